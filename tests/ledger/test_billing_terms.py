"""Changing an account's APR or cycle day (ledger/billing.py ``billing_terms_change``,
docs/billing.md "Changing the APR or the cycle day"): the change applies from the next cycle
(checked against the statement computation), validation against the legal maximum and 1-28,
maker-checker above the threshold, least privilege, and the admin page.

Same set-up as test_billing.py: APR 18.25 % (interest = sum of daily balances x APR / 3 650 000),
cycle day 15, account opened 2026-03-16, so cycles end on Apr 15, May 15, Jun 15 ...
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.credit.services import (
    CreditPermissionDenied,
    RequestNotPending,
    SelfApprovalRefused,
)
from compliance.models import AuditEvent
from creditplatform.errors import ValidationError
from ledger import billing
from ledger.billing_models import BillingStatement, BillingTerms, BillingTermsChange
from tests.factories import ACTOR, CustomerFactory, UserFactory
from tests.ledger.test_billing import _billing_settings, at, charge, close, opened  # noqa: F401

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 5, 1)  # inside the cycle Apr 16 .. May 15


@pytest.fixture(autouse=True)
def _today(monkeypatch: Any) -> None:
    monkeypatch.setattr(billing, "_today", lambda: TODAY)


def staff(role: str) -> Any:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return type(user).objects.get(pk=user.pk)  # fresh permission cache


def change(actor: Any, acc: Any, **kw: Any) -> BillingTermsChange:
    kw.setdefault("reason", "repricing after review")
    return billing.billing_terms_change(actor=actor, account=acc, **kw)


def d(month: int, day: int) -> dt.date:
    return dt.date(2026, month, day)


# --- from the next cycle, against the statement computation -----------------------------------

def test_apr_changed_mid_cycle_applies_from_the_next_statement(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    close(acc, 4, 15)  # first statement: grace, no interest; not paid: the next one pays
    req = change(staff("platform_admin"), acc, apr_bps=1460)  # a decrease: one person
    assert req.status == "approved" and req.effective_from == d(5, 16)
    assert (req.previous_apr_bps, req.apr_bps) == (1825, 1460)

    may = close(acc, 5, 15)
    # The whole cycle at the old APR: 30 days x 10 000 x 1825 / 3 650 000 = 150 (at the new
    # APR per day from May 1 it would be 15 x 5 + 15 x 4 = 135; all new: 120).
    assert may.apr_bps == 1825 and may.interest == 150
    terms = BillingTerms.objects.get(account=acc)
    assert terms.apr_bps == 1460  # folded in at the close: the open cycle's terms
    assert BillingTermsChange.objects.get().applied_at is not None

    june = close(acc, 6, 15)
    assert june.apr_bps == 1460
    # 31 days at the May closing balance (10 000 + 150 interest + 2 500 late fee)
    assert may.closing_balance == 12_650
    assert june.interest == billing.interest_for(balances=[12_650] * 31, apr_bps=1460) == 157
    event = AuditEvent.objects.get(event_type="billing.terms_applied", object_id=str(acc.pk))
    assert event.details["changes"] == [str(req.pk)] and event.details["cycle_start"] == \
        "2026-05-16"
    assert event.details["to"] == {"apr_bps": 1460, "cycle_day": 15}


def test_change_after_a_cycle_ended_but_before_its_close_waits_for_the_cycle_after(
        customer: Any, monkeypatch: Any) -> None:
    acc = opened(customer)
    close(acc, 4, 15)
    monkeypatch.setattr(billing, "_today", lambda: d(5, 16))  # May 15 not closed yet
    req = change(staff("platform_admin"), acc, apr_bps=1500)
    assert req.effective_from == d(6, 16)
    assert close(acc, 5, 15).apr_bps == 1825
    assert BillingTerms.objects.get(account=acc).apr_bps == 1825  # not yet: Jun 16
    assert close(acc, 6, 15).apr_bps == 1825
    assert close(acc, 7, 15).apr_bps == 1500


def test_cycle_day_change_gives_one_transitional_cycle(customer: Any) -> None:
    acc = opened(customer)
    close(acc, 4, 15)
    req = change(staff("platform_admin"), acc, cycle_day=5)
    assert req.status == "approved" and req.effective_from == d(5, 16)
    # the open cycle still ends on the 15th; the next one on the first 5th >= 28 days on
    assert billing.due_period_ends(account=acc, as_of=d(8, 6)) == [d(5, 15), d(7, 5),
                                                                    d(8, 5)]
    assert billing.billing_run(as_of=d(8, 6)) == 3
    periods = list(BillingStatement.objects.filter(account=acc).order_by("period_end")
                   .values_list("period_start", "period_end", "days_in_period"))
    assert periods[1:] == [(d(4, 16), d(5, 15), 30), (d(5, 16), d(7, 5), 51),
                           (d(7, 6), d(8, 5), 31)]
    assert BillingTerms.objects.get(account=acc).cycle_day == 5


def test_unchanged_cycle_day_keeps_monthly_cycles(customer: Any) -> None:
    acc = opened(customer)
    assert billing.due_period_ends(account=acc, as_of=d(9, 1)) == [
        d(4, 15), d(5, 15), d(6, 15), d(7, 15), d(8, 15)]


def test_a_closed_account_has_no_terms_to_change(customer: Any) -> None:
    from accounts.models import CreditAccount
    from ledger.exceptions import AccountNotActive

    acc = opened(customer)
    CreditAccount.objects.filter(pk=acc.pk).update(status=CreditAccount.Status.CLOSED)
    with pytest.raises(AccountNotActive):
        change(staff("platform_admin"), acc, apr_bps=1500)
    assert not BillingTermsChange.objects.exists()
    assert not AuditEvent.objects.filter(event_type="billing.terms_changed").exists()


# --- maker-checker ----------------------------------------------------------------------------

def test_apr_increase_above_threshold_waits_for_a_second_person(customer: Any) -> None:
    acc = opened(customer)
    maker, checker = staff("platform_admin"), staff("platform_admin")
    req = change(maker, acc, apr_bps=1926)  # +101 bps > 100
    assert req.status == "pending" and req.effective_from is None
    assert close(acc, 4, 15).apr_bps == 1825  # a pending change changes nothing
    with pytest.raises(billing.TermsChangePending):
        change(maker, acc, cycle_day=3)
    with pytest.raises(SelfApprovalRefused):
        billing.billing_terms_change_approve(actor=maker, change=req)
    assert AuditEvent.objects.filter(event_type="billing.terms_change_self_approval",
                                     outcome="denied").count() == 1
    with pytest.raises(CreditPermissionDenied):  # compliance reads, never approves
        billing.billing_terms_change_approve(actor=staff("compliance_officer"), change=req)
    assert BillingTermsChange.objects.get().status == "pending"

    done = billing.billing_terms_change_approve(actor=checker, change=req, note="ok")
    assert done.status == "approved" and done.decided_by == checker
    # an increase: the first cycle beginning 45 days or more after May 1 (June 15)
    assert done.effective_from == d(6, 16)
    with pytest.raises(RequestNotPending):
        billing.billing_terms_change_reject(actor=checker, change=req)
    assert close(acc, 5, 15).apr_bps == 1825 and close(acc, 6, 15).apr_bps == 1825
    assert close(acc, 7, 15).apr_bps == 1926
    assert AuditEvent.objects.filter(event_type="billing.terms_changed",
                                     object_id=str(acc.pk)).count() == 1


def test_increase_at_the_threshold_needs_one_person_and_rejection_keeps_the_terms(
        customer: Any) -> None:
    acc = opened(customer)
    assert change(staff("platform_admin"), acc, apr_bps=1925).status == "approved"  # +100
    acc2 = opened(CustomerFactory())
    req = change(staff("platform_admin"), acc2, apr_bps=3000)
    billing.billing_terms_change_reject(actor=staff("platform_admin"), change=req)
    assert BillingTermsChange.objects.get(pk=req.pk).status == "rejected"
    assert close(acc2, 4, 15).apr_bps == 1825 and close(acc2, 5, 15).apr_bps == 1825


@pytest.mark.parametrize(("notice_days", "apr_bps", "effective"), [
    (45, 1925, (6, 16)),   # May 1 + 45 = Jun 15: the cycle beginning Jun 16
    (46, 1925, (6, 16)),   # May 1 + 46 = Jun 16: a cycle beginning on the last day counts
    (47, 1925, (7, 16)),   # May 1 + 47 = Jun 17: the next one
    (0, 1925, (5, 16)),    # no notice configured: the next cycle, as any change
    (45, 1824, (5, 16)),   # a decrease needs no notice
])
def test_an_apr_increase_applies_after_its_notice_period(
        customer: Any, settings: Any, notice_days: int, apr_bps: int,
        effective: tuple[int, int]) -> None:
    """12 CFR 1026.9(c)(2)(i): written notice at least 45 days before an APR increase takes
    effect; the notice is dated the approval and the increase waits for the first cycle that
    begins on or after the end of the notice period."""
    settings.BILLING = {**settings.BILLING, "APR_INCREASE_NOTICE_DAYS": notice_days}
    acc = opened(customer)
    req = change(staff("platform_admin"), acc, apr_bps=apr_bps)
    assert req.status == "approved" and req.effective_from == d(*effective)
    event = AuditEvent.objects.get(event_type="billing.terms_changed", object_id=str(acc.pk))
    assert event.details["notice_days"] == (notice_days if apr_bps > 1825 else None)
    assert event.details["effective_from"] == d(*effective).isoformat()
    month = effective[0]   # the cycle ending on the 15th of that month keeps the old APR
    assert close(acc, month, 15).apr_bps == 1825
    assert close(acc, month + 1, 15).apr_bps == apr_bps


def test_database_refuses_self_approval(customer: Any) -> None:
    acc = opened(customer)
    maker = staff("platform_admin")
    req = change(maker, acc, apr_bps=2500)
    with pytest.raises(IntegrityError), transaction.atomic():
        BillingTermsChange.objects.filter(pk=req.pk).update(decided_by=maker)


# --- validation and least privilege -------------------------------------------------------------

@pytest.mark.parametrize(("kw", "code"), [
    ({"apr_bps": 3601}, "apr_above_maximum"),
    ({"apr_bps": -1}, "validation_error"),
    ({"apr_bps": "2000"}, "validation_error"),
    ({"apr_bps": 20.0}, "validation_error"),
    ({"cycle_day": 0}, "validation_error"),
    ({"cycle_day": 29}, "validation_error"),
    ({"cycle_day": True}, "validation_error"),
    ({}, "validation_error"),
    ({"apr_bps": 1825, "cycle_day": 15}, "validation_error"),  # the terms in force already
    ({"apr_bps": 1500, "reason": "  "}, "validation_error"),
    ({"apr_bps": 1500, "reason": "x" * 501}, "validation_error"),
])
def test_invalid_changes_are_refused_and_write_nothing(customer: Any, kw: dict, code: str) -> None:
    acc = opened(customer)
    maker = staff("platform_admin")
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        change(maker, acc, **kw)
    assert exc.value.code == code and exc.value.status == 400
    assert not BillingTermsChange.objects.exists() and AuditEvent.objects.count() == events


def test_legal_maximum_is_configurable(customer: Any, settings: Any) -> None:
    settings.BILLING = {**settings.BILLING, "MAX_APR_BPS": 2000, "APR_FOUR_EYES_BPS": 500}
    acc = opened(customer)
    with pytest.raises(billing.AprAboveMaximum) as exc:
        change(staff("platform_admin"), acc, apr_bps=2001)
    assert exc.value.extra == {"max_apr_bps": 2000}
    assert change(staff("platform_admin"), acc, apr_bps=2000).status == "approved"  # +175 < 500


def test_approval_rechecks_a_lowered_maximum(customer: Any, settings: Any) -> None:
    acc = opened(customer)
    req = change(staff("platform_admin"), acc, apr_bps=3000)
    settings.BILLING = {**settings.BILLING, "MAX_APR_BPS": 2500}
    with pytest.raises(billing.AprAboveMaximum):
        billing.billing_terms_change_approve(actor=staff("platform_admin"), change=req)
    assert BillingTermsChange.objects.get().status == "pending"


@pytest.mark.parametrize("who", ["cardholder", "support_agent", "compliance_officer"])
def test_only_the_right_role_changes_terms(customer: Any, who: str) -> None:
    acc = opened(customer)
    actor = customer if who == "cardholder" else staff(who)
    with pytest.raises(CreditPermissionDenied) as exc:
        change(actor, acc, apr_bps=1500)
    assert exc.value.status == 403 and exc.value.code == "permission_denied"
    with pytest.raises(CreditPermissionDenied):
        billing.billing_terms_change(actor=ACTOR, account=acc, apr_bps=1500, reason="x")
    assert not BillingTermsChange.objects.exists()


# --- the admin page -----------------------------------------------------------------------------

@pytest.fixture
def no_otp(settings: Any) -> None:
    settings.ADMIN_REQUIRE_OTP = False


def web(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


ADD = "/admin/ledger/billingtermschange/add/"
LIST = "/admin/ledger/billingtermschange/"


@pytest.mark.usefixtures("no_otp")
def test_admin_maker_checker(customer: Any) -> None:
    acc = opened(customer)
    maker, checker = staff("platform_admin"), staff("platform_admin")
    form = {"account": str(acc.pk), "apr_bps": "3601", "cycle_day": "", "reason": "repricing"}
    r = web(maker).post(ADD, form)
    assert r.status_code == 200 and "legal maximum" in r.content.decode()
    assert not BillingTermsChange.objects.exists()
    r = web(maker).post(ADD, {**form, "apr_bps": "2400"})
    assert r.status_code == 302, r.content.decode()[:2000]
    req = BillingTermsChange.objects.get()
    assert req.status == "pending" and req.requested_by == maker
    action = {"action": "approve", "_selected_action": [str(req.pk)]}
    web(maker).post(LIST, action)  # self-approval refused
    assert BillingTermsChange.objects.get().status == "pending"
    web(staff("compliance_officer")).post(LIST, action)  # reads, never approves
    assert BillingTermsChange.objects.get().status == "pending"
    web(checker).post(LIST, action)
    assert BillingTermsChange.objects.get().status == "approved"
    page = web(checker).get(f"{LIST}{req.pk}/change/").content.decode()
    assert "repricing" in page and 'name="_save"' not in page  # history, read-only
    assert web(staff("compliance_officer")).get(LIST).status_code == 200  # officers read


@pytest.mark.usefixtures("no_otp")
@pytest.mark.parametrize("role", ["support_agent", "compliance_officer"])
def test_admin_refuses_terms_changes_without_the_permission(customer: Any, role: str) -> None:
    acc = opened(customer)
    c = web(staff(role))
    assert c.get(ADD).status_code == 403
    r = c.post(ADD, {"account": str(acc.pk), "apr_bps": "1500", "reason": "cheaper"})
    assert r.status_code == 403 and not BillingTermsChange.objects.exists()
