"""Approval opens the credit line (docs/credit.md "Approval opens the credit line"): one account
with the decided limit, exactly once per application; refer and decline open nothing."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from accounts import services as account_services
from accounts import vault
from accounts.credit import services
from accounts.credit.models import CreditDecision
from accounts.models import CreditAccount
from compliance.models import AuditEvent
from tests.credit.conftest import (
    NATIONAL_ID,
    RISKY,
    SAFE,
    application_data,
    staff_with,
    with_history,
)
from tests.factories import ACTOR, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/credit-applications/"
MAKER = "accounts.add_creditchangerequest"
CHECKER = "accounts.approve_creditchangerequest"


def newcomer() -> Any:
    """A person with a verifiable KYC profile and no credit account at all."""
    user = UserFactory()
    user.groups.add(Group.objects.get_or_create(name="customer")[0])
    vault.customer_profile_set(actor=ACTOR, user=user, national_id=NATIONAL_ID,
                               date_of_birth=dt.date(1985, 5, 17))
    return user


def _undecided(user: Any, hist: dict[str, Any] | None = None, **over: Any) -> Any:
    app = services.credit_application_create(actor=user, applicant=user, decide=False,
                                             **application_data(**over))
    return with_history(app, hist) if hist is not None else app


def _decide(user: Any, app: Any) -> CreditDecision:
    return services.credit_application_decide(actor=user, application=app)


def test_approval_opens_one_line_with_the_decided_limit_and_redeciding_opens_no_other():
    user = newcomer()
    app = _undecided(user, SAFE)
    d = _decide(user, app)
    assert d.outcome == "approve" and d.credit_limit > 0, d.rule_trace
    account = CreditAccount.objects.get(owner=user)
    assert (account.credit_limit, account.currency, account.posted, account.status) == (
        d.credit_limit, "EUR", 0, "active")
    d.refresh_from_db()
    assert (d.credit_account_id, d.credit_line_action) == (account.pk, "opened")
    opened = AuditEvent.objects.get(event_type="account.opened", object_id=str(account.pk))
    assert opened.details["credit_limit"] == d.credit_limit
    decided = AuditEvent.objects.get(event_type="credit.decided", object_id=str(app.pk))
    assert decided.details["credit_account"] == str(account.pk)
    assert decided.details["credit_line"] == "opened"

    again = _decide(user, app)  # a re-decision of the same application
    assert again.outcome == "approve" and again.sequence == 2
    assert CreditAccount.objects.filter(owner=user).count() == 1
    assert (again.credit_account_id, again.credit_line_action) == (account.pk, "unchanged")
    assert services.credit_decision_replay(decision=again).same
    assert CreditAccount.objects.filter(owner=user).count() == 1


def test_refer_and_decline_open_nothing():
    user = newcomer()
    declined = _decide(user, _undecided(user, RISKY))
    referred = _decide(user, _undecided(user))  # thin file: P05 refer
    assert (declined.outcome, referred.outcome) == ("decline", "refer")
    assert referred.reasons[0]["code"] == "P05"
    for d in (declined, referred):
        d.refresh_from_db()
        assert (d.credit_account_id, d.credit_line_action) == (None, "none")
    assert not CreditAccount.objects.filter(owner=user).exists()
    assert not AuditEvent.objects.filter(event_type="account.opened").exists()


def test_approval_raises_an_existing_line_and_never_lowers_it(applicant):
    account = applicant.credit_accounts.get()
    assert account.credit_limit == 100_000
    d = _decide(applicant, _undecided(applicant, SAFE))
    assert d.outcome == "approve" and d.credit_limit > 100_000
    account.refresh_from_db()
    assert account.credit_limit == d.credit_limit
    assert (d.credit_account_id, d.credit_line_action) == (account.pk, "raised")
    change = AuditEvent.objects.get(event_type="account.limit_changed",
                                    object_id=str(account.pk))
    assert (change.details["from"], change.details["to"], change.details["decision"]) == (
        100_000, d.credit_limit, str(d.pk))
    # a later, smaller approval (another application) leaves the higher limit alone
    smaller = _decide(applicant, _undecided(applicant, SAFE, requested_limit=60_000))
    assert smaller.outcome == "approve" and smaller.credit_limit == 60_000
    assert smaller.credit_line_action == "unchanged"
    account.refresh_from_db()
    assert account.credit_limit == d.credit_limit
    assert CreditAccount.objects.filter(owner=applicant).count() == 1


def test_approval_leaves_a_frozen_line_frozen_and_unraised(applicant):
    account = applicant.credit_accounts.get()
    CreditAccount.objects.filter(pk=account.pk).update(status=CreditAccount.Status.FROZEN)
    d = _decide(applicant, _undecided(applicant, SAFE))
    assert d.outcome == "approve" and d.credit_line_action == "unchanged"
    account.refresh_from_db()
    assert (account.status, account.credit_limit) == ("frozen", 100_000)
    assert CreditAccount.objects.filter(owner=applicant).count() == 1
    assert not AuditEvent.objects.filter(event_type="account.limit_changed").exists()


def test_an_account_in_another_currency_is_not_the_line():
    user = newcomer()
    usd = account_services.credit_account_create(actor=ACTOR, owner=user, credit_limit=5_000,
                                                 currency="USD")
    d = _decide(user, _undecided(user, SAFE))  # EUR
    assert d.credit_line_action == "opened" and d.credit_account_id != usd.pk
    assert d.credit_account.currency == "EUR"
    usd.refresh_from_db()
    assert usd.credit_limit == 5_000


def test_checker_approved_override_opens_one_line():
    user = newcomer()
    app = _undecided(user)
    assert _decide(user, app).outcome == "refer"
    maker, checker = staff_with(MAKER), staff_with(CHECKER)
    rejected = services.credit_override_request(actor=maker, application=app,
                                                outcome="approve", credit_limit=150_000,
                                                reason="documents checked")
    services.credit_change_reject(actor=checker, request=rejected, note="no")
    assert not CreditAccount.objects.filter(owner=user).exists()
    req = services.credit_override_request(actor=maker, application=app, outcome="approve",
                                           credit_limit=150_000, reason="documents checked")
    assert not CreditAccount.objects.filter(owner=user).exists()  # the maker alone: nothing
    services.credit_change_approve(actor=checker, request=req)
    account = CreditAccount.objects.get(owner=user)
    d = app.decisions.get(source="override")
    assert (account.credit_limit, d.credit_account_id, d.credit_line_action) == (
        150_000, account.pk, "opened")
    assert AuditEvent.objects.get(event_type="account.opened",
                                  object_id=str(account.pk)).actor_id == str(checker.pk)


def test_the_database_refuses_a_line_action_on_a_decline():
    from django.db import IntegrityError, transaction

    user = newcomer()
    d = _decide(user, _undecided(user, RISKY))
    account = account_services.credit_account_create(actor=ACTOR, owner=user, credit_limit=1,
                                                     currency="EUR")
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditDecision.objects.filter(pk=d.pk).update(credit_account=account,
                                                      credit_line_action="opened")


# --- through the API ------------------------------------------------------------------------


@pytest.fixture
def clean_history(monkeypatch):
    """The API decides at once; give its thin-file applicants a clean record instead."""
    monkeypatch.setattr("accounts.credit.history.thin_file",
                        lambda **kw: {**SAFE, "source": "test"})


def _body(**over: Any) -> dict[str, Any]:
    data = application_data(**over)
    data["date_of_birth"] = data["date_of_birth"].isoformat()
    return data


def test_api_approval_shows_the_line_to_the_applicant_only_and_a_retry_opens_no_other(
        api, idem, clean_history):
    user = newcomer()
    client = api(user)
    headers = idem()
    r = client.post(URL, _body(), format="json", **headers)
    assert r.status_code == 201, r.content
    decision = r.json()["decision"]
    assert decision["outcome"] == "approve"
    assert decision["credit_line_action"] == "opened"
    account_id = decision["credit_account"]
    listed = client.get("/api/v1/accounts/").json()["results"]
    assert [(a["id"], a["credit_limit"], a["currency"]) for a in listed] == [
        (account_id, decision["credit_limit"], "EUR")]
    assert client.get(f"{URL}{r.json()['id']}/").json()["decision"]["credit_account"] == \
        account_id
    other = CustomerFactory()
    assert account_id not in [a["id"] for a in api(other).get("/api/v1/accounts/").json()
                              ["results"]]
    assert api(other).get(f"/api/v1/accounts/{account_id}/").status_code == 404

    again = client.post(URL, _body(), format="json", **headers)  # the client's retry
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["decision"]["credit_account"] == account_id
    assert CreditAccount.objects.filter(owner=user).count() == 1


def test_api_refer_opens_nothing(api, idem):
    user = newcomer()
    r = api(user).post(URL, _body(), format="json", **idem())  # thin file: refer
    decision = r.json()["decision"]
    assert (decision["outcome"], decision["credit_account"],
            decision["credit_line_action"]) == ("refer", None, "none")
    assert api(user).get("/api/v1/accounts/").json()["results"] == []


# --- concurrency (PostgreSQL, real transactions) --------------------------------------------


def _race(calls: list[Any]) -> list[BaseException]:
    """Run ``calls`` in threads released together; each thread its own connection."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Any) -> None:
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a decision hung"
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_of_one_application_open_one_line():
    user = newcomer()
    app = _undecided(user, SAFE)
    errors = _race([lambda: _decide(user, app)] * 2)
    assert errors == []
    decisions = list(app.decisions.order_by("sequence"))
    assert [d.outcome for d in decisions] == ["approve", "approve"]
    assert sorted(d.credit_line_action for d in decisions) == ["opened", "unchanged"]
    assert CreditAccount.objects.filter(owner=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_of_two_applications_open_one_line():
    user = newcomer()
    apps = [_undecided(user, SAFE), _undecided(user, SAFE)]
    errors = _race([lambda a=a: _decide(user, a) for a in apps])
    assert errors == []
    actions = sorted(CreditDecision.objects.filter(application__applicant=user)
                     .values_list("credit_line_action", flat=True))
    assert actions == ["opened", "unchanged"]
    assert CreditAccount.objects.filter(owner=user).count() == 1
