"""Credit applications and decisions through the services (issue 10, items 1-2)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from accounts.credit import policy, services
from accounts.credit.models import CreditApplication, CreditDecision
from accounts.vault import unseal
from compliance.models import AuditEvent
from tests.credit.conftest import RISKY, SAFE, application_data, with_history
from tests.factories import ACTOR, CustomerFactory

pytestmark = pytest.mark.django_db


def _apply(user, hist=None, **over):
    app = services.credit_application_create(actor=user, applicant=user, decide=hist is None,
                                             **application_data(**over))
    if hist is not None:
        with_history(app, hist)
        services.credit_application_decide(actor=user, application=app)
    app.refresh_from_db()
    return app, app.latest_decision


def test_application_seals_personal_data_and_records_consent(applicant):
    app, decision = _apply(applicant)
    assert app.consent_text_version == services.CURRENT_CONSENT_VERSION
    assert app.consent_at is not None
    raw = bytes(app.national_id_encrypted) + bytes(app.date_of_birth_encrypted)
    assert b"A123456789" not in raw and b"1985-05-17" not in raw
    assert unseal(applicant, bytes(app.national_id_encrypted), table=services.APP_TABLE,
                  column="national_id", row_id=app.pk) == "A123456789"
    assert app.national_id_last4 == "6789"
    assert decision is not None and decision.source == "model"
    # the new customer's own account is the alternative data source (tenure 0, no history)
    assert app.history["source"] == "ledger" and app.history["PAY_0"] == -2


def test_no_consent_is_refused_and_nothing_is_stored(applicant):
    for over in ({"consent": False}, {"consent_text_version": "1999-01"}):
        with pytest.raises(services.ConsentRequired) as exc:
            services.credit_application_create(actor=applicant, applicant=applicant,
                                               **application_data(**over))
        assert exc.value.status == 400
    assert not CreditApplication.objects.exists()


def test_decision_stores_model_version_input_hash_reasons_and_is_audited(applicant):
    app, d = _apply(applicant, RISKY)
    assert d.outcome == "decline" and d.pd is not None and d.pd > 0.5
    assert d.model_name == "credit-pd" and d.model_version and len(d.model_sha256) == 64
    inputs = json.loads(unseal(applicant, bytes(d.inputs_encrypted),
                               table=services.DECISION_TABLE, column="inputs", row_id=d.pk))
    assert policy.inputs_sha256(inputs) == d.inputs_sha256
    assert inputs["history"]["PAY_0"] == 3 and inputs["identity_verified"] is True
    codes = [r["code"] for r in d.reasons]
    assert 1 <= len(codes) <= 4 and codes[0].startswith("R")
    assert {"R01", "R02"} & set(codes)  # delinquency is a principal reason here
    event = AuditEvent.objects.filter(event_type="credit.decided", object_id=str(app.pk)).get()
    assert event.details["outcome"] == "decline"
    assert event.details["inputs_sha256"] == d.inputs_sha256
    assert app.status == CreditApplication.Status.DECLINED


def test_clean_history_is_approved_with_a_limit_from_the_policy(applicant):
    app, d = _apply(applicant, SAFE)
    assert d.outcome == "approve", d.rule_trace
    assert d.reasons == []
    cap = policy.capacity(400_000, 50_000)
    a = d.rule_trace[-2]["approve_below"]
    factor = 1.0 if d.pd < a / 2 else 0.75
    expected = min(300_000, int(cap * factor)) // policy.LIMIT_STEP * policy.LIMIT_STEP
    assert d.credit_limit == expected > 0
    assert d.credit_limit <= app.requested_limit


@pytest.mark.parametrize(("over", "outcome", "code"), [
    ({"date_of_birth": dt.date.today().replace(year=dt.date.today().year - 17)}, "decline", "P01"),
    ({"national_id": "Z999999999"}, "refer", "P02"),
    ({"monthly_obligations": 200_000}, "decline", "P03"),  # 50 % > 43 %
    ({"monthly_income": 0}, "decline", "P03"),
    ({"monthly_income": 60_000, "monthly_obligations": 25_000}, "decline", "P04"),
])
def test_policy_rules_decide_before_the_model(applicant, over, outcome, code):
    _, d = _apply(applicant, SAFE, **over)
    assert (d.outcome, [r["code"] for r in d.reasons]) == (outcome, [code])
    if code != "P04":
        assert d.pd is None  # the model did not run


def test_identity_unverified_without_kyc_profile(db):
    user = CustomerFactory()
    _, d = _apply(user, SAFE)
    assert (d.outcome, d.reasons[0]["code"]) == ("refer", "P02")


def test_decision_does_not_change_with_age_beyond_majority(applicant):
    """Age enters only the age-of-majority rule: 19, 35 and 80 year-olds get the same PD,
    outcome, limit and reasons (sex and marital status are never collected by the API)."""
    today = dt.date.today()
    results = set()
    for years in (19, 35, 80):
        dob = today.replace(year=today.year - years, day=1)
        for hist in (SAFE, RISKY):
            _, d = _apply(applicant, hist, date_of_birth=dob)
            results.add((json.dumps(hist, sort_keys=True), d.outcome, d.pd, d.credit_limit,
                         tuple(r["code"] for r in d.reasons)))
    assert len(results) == 2  # one result per history, whatever the age


def test_replay_gives_the_same_decision(applicant):
    for hist in (SAFE, RISKY):
        _, d = _apply(applicant, hist)
        replay = services.credit_decision_replay(decision=d)
        assert replay.same, (replay.stored, replay.replayed)
        assert replay.replayed["outcome"] == d.outcome


def test_replay_detects_changed_inputs_hash(applicant):
    _, d = _apply(applicant, RISKY)
    CreditDecision.objects.filter(pk=d.pk).update(inputs_sha256="0" * 64)
    d.refresh_from_db()
    with pytest.raises(services.ReplayMismatch):
        services.credit_decision_replay(decision=d)


def test_replay_uses_stored_inputs_not_the_current_application(applicant):
    app, d = _apply(applicant, RISKY)
    with_history(app, SAFE)  # the application's data changes after the decision
    assert services.credit_decision_replay(decision=d).replayed["outcome"] == "decline"


def test_system_actor_can_decide(applicant):
    app, _ = _apply(applicant, SAFE)
    d = services.credit_application_decide(actor=ACTOR, application=app)
    assert d.sequence == 2 and d.actor_type == "system"


def test_no_history_is_referred_for_limited_credit_experience(applicant):
    """A fresh account (six months without activity) and an applicant without an account in
    the currency (thin file) are referred with P05, not scored on 'no consumption'."""
    for currency in ("EUR", "USD"):
        app, d = _apply(applicant, currency=currency)
        assert app.history["source"] == ("ledger" if currency == "EUR" else "thin_file")
        assert (d.outcome, [r["code"] for r in d.reasons], d.pd) == ("refer", ["P05"], None)
