"""Worked examples of billing statements, computed by hand and matched to the cent (issue 10,
item 5). Rules: ``docs/billing.md``.

Common set-up of every example (all amounts in EUR cents, dates in UTC = ``TIME_ZONE``):

* account opened 2026-03-16, cycle day 15, so the cycles are
  2026-03-16..04-15 (31 days), 04-16..05-15 (30 days);
* APR 18.25 % = 1825 bps, so the daily periodic rate is 0.1825 / 365 = 0.0005 exactly and
  interest = (sum of daily balances) x 0.0005 = (sum of daily balances) / 2000;
* minimum payment: max(25.00, round(1 % x principal) + interest + fees) + past due, capped at
  the balance; late fee 30.00 capped at the missed minimum; due date = period end + 25 days;
* rounding: half to even, once per figure (``ledger.billing.round_minor``).

Statement 1 (03-16..04-15), the same in every example: purchases 100.00 on 03-20,
50.00 on 04-01, 25.50 on 04-10::

    days 03-16..03-19   4 x      0 =       0
    days 03-20..03-31  12 x 10 000 = 120 000
    days 04-01..04-09   9 x 15 000 = 135 000
    days 04-10..04-15   6 x 17 550 = 105 300
                       31 days       360 300   ADB = 360 300 / 31 = 11 622.58 -> 11 623

    no previous statement -> grace period -> interest 0
    closing = 0 + 17 550 = 17 550
    minimum = max(2 500, round(175.50) + 0) = max(2 500, 176) = 2 500, due 2026-05-10
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from accounts.models import CreditAccount
from ledger import billing, services
from ledger.billing_models import BillingStatement, BillingTerms
from ledger.models import JournalEntry, LedgerAccount
from ledger.preauth import APPROVE, PreauthDecision
from ledger.selectors import ledger_account_balance
from tests.factories import ACTOR

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def approve_all(request: Any) -> PreauthDecision:
    """Pre-authorization that approves everything: these examples test billing, not fraud."""
    return PreauthDecision(APPROVE, [])


@pytest.fixture
def account(customer: Any, settings: Any) -> CreditAccount:
    settings.LEDGER_PREAUTH = f"{__name__}.approve_all"
    settings.BILLING = {
        "DEFAULT_APR_BPS": 1825, "DEFAULT_CYCLE_DAY": 15, "DUE_DAYS": 25,
        "MIN_PAYMENT_FLOOR": 2500, "MIN_PAYMENT_PRINCIPAL_BPS": 100, "LATE_FEE": 3000,
        "FREEZE_AT_BUCKET": "60",
    }
    acc = CreditAccount.objects.get(owner=customer)
    CreditAccount.objects.filter(pk=acc.pk).update(
        created_at=dt.datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    BillingTerms.objects.create(account=acc, apr_bps=1825, cycle_day=15)
    acc.refresh_from_db()
    return acc


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 12, 0, tzinfo=UTC)


def charge(acc: CreditAccount, amount: int, when: dt.datetime) -> JournalEntry:
    return services.charge_create(actor=ACTOR, account_id=acc.pk, amount=amount,
                                  currency="EUR", occurred_at=when).entry


def pay(acc: CreditAccount, amount: int, when: dt.datetime) -> JournalEntry:
    return services.payment_create(actor=ACTOR, account_id=acc.pk, amount=amount,
                                   currency="EUR", occurred_at=when)


def close(acc: CreditAccount, month: int, day: int) -> BillingStatement:
    return billing.statement_close(actor=ACTOR, account_id=acc.pk,
                                   period_end=dt.date(2026, month, day))


def first_statement(acc: CreditAccount) -> tuple[BillingStatement, JournalEntry]:
    charge(acc, 10_000, at(3, 20))
    charge(acc, 5_000, at(4, 1))
    last = charge(acc, 2_550, at(4, 10))
    return close(acc, 4, 15), last


def figures(st: BillingStatement) -> dict[str, Any]:
    return {f: getattr(st, f) for f in (
        "period_start", "period_end", "days_in_period", "opening_balance", "purchases",
        "payments", "refunds", "interest", "fees", "closing_balance", "average_daily_balance",
        "minimum_payment", "past_due_amount", "due_date", "paid_in_full_prior",
        "days_past_due", "delinquency_bucket")}


def income(code: str) -> int:
    la = LedgerAccount.objects.filter(code=f"{code}:EUR").first()
    return 0 if la is None else -ledger_account_balance(ledger_account=la)


def test_a_month_with_purchases_then_paid_in_full(account: CreditAccount) -> None:
    """(a) Statement 1 as in the module docstring; then the balance is paid in full in time.

    Statement 2 (04-16..05-15, 30 days): purchase 40.00 on 05-01, payment 175.50 on 05-05
    (statement 1's whole balance, before its due date 05-10) -> grace period, no interest::

        days 04-16..04-30  15 x 17 550 = 263 250
        days 05-01..05-04   4 x 21 550 =  86 200
        days 05-05..05-15  11 x  4 000 =  44 000
                           30 days       393 450   ADB = 13 115.00 -> 13 115
        interest 0 (paid in full), late fee 0
        closing = 17 550 + 4 000 - 17 550 = 4 000
        minimum = max(2 500, round(40.00) + 0) = 2 500 (<= 4 000), due 2026-06-09
    """
    st1, _ = first_statement(account)
    assert figures(st1) == {
        "period_start": dt.date(2026, 3, 16), "period_end": dt.date(2026, 4, 15),
        "days_in_period": 31, "opening_balance": 0, "purchases": 17_550, "payments": 0,
        "refunds": 0, "interest": 0, "fees": 0, "closing_balance": 17_550,
        "average_daily_balance": 11_623, "minimum_payment": 2_500, "past_due_amount": 0,
        "due_date": dt.date(2026, 5, 10), "paid_in_full_prior": True, "days_past_due": 0,
        "delinquency_bucket": "current",
    }
    charge(account, 4_000, at(5, 1))
    pay(account, 17_550, at(5, 5))
    st2 = close(account, 5, 15)
    assert figures(st2) == {
        "period_start": dt.date(2026, 4, 16), "period_end": dt.date(2026, 5, 15),
        "days_in_period": 30, "opening_balance": 17_550, "purchases": 4_000,
        "payments": 17_550, "refunds": 0, "interest": 0, "fees": 0, "closing_balance": 4_000,
        "average_daily_balance": 13_115, "minimum_payment": 2_500, "past_due_amount": 0,
        "due_date": dt.date(2026, 6, 9), "paid_in_full_prior": True, "days_past_due": 0,
        "delinquency_bucket": "current",
    }
    assert st2.interest_entry is None and st2.fee_entry is None
    account.refresh_from_db()
    assert account.posted == st2.closing_balance == 4_000


def test_b_partial_payment_loses_grace_and_pays_interest_on_adb(account: CreditAccount) -> None:
    """(b) Statement 2 after a partial payment: 50.00 on 05-05 (>= the minimum 25.00, before the
    due date 05-10, but not the whole 175.50) and a purchase of 30.00 on 04-20. No grace: interest
    on the average daily balance including the new purchase::

        days 04-16..04-19   4 x 17 550 =  70 200
        days 04-20..05-04  15 x 20 550 = 308 250
        days 05-05..05-15  11 x 15 550 = 171 050
                           30 days       549 500   ADB = 18 316.67 -> 18 317
        interest = 549 500 / 2000 = 274.75 -> 275
        late fee 0 (50.00 >= 25.00 by 05-10); past due 0
        closing = 17 550 + 3 000 - 5 000 + 275 = 15 825
        minimum = max(2 500, round(1 % x 15 550 = 155.50 -> 156) + 275 = 431) = 2 500
        allocation: 50.00 -> fees 0, interest 0, principal 17 550 -> 12 550; + 3 000 purchases
        = principal 15 550, interest outstanding 275, fees 0
    """
    first_statement(account)
    charge(account, 3_000, at(4, 20))
    pay(account, 5_000, at(5, 5))
    st2 = close(account, 5, 15)
    assert figures(st2) == {
        "period_start": dt.date(2026, 4, 16), "period_end": dt.date(2026, 5, 15),
        "days_in_period": 30, "opening_balance": 17_550, "purchases": 3_000,
        "payments": 5_000, "refunds": 0, "interest": 275, "fees": 0,
        "closing_balance": 15_825, "average_daily_balance": 18_317,
        "minimum_payment": 2_500, "past_due_amount": 0, "due_date": dt.date(2026, 6, 9),
        "paid_in_full_prior": False, "days_past_due": 0, "delinquency_bucket": "current",
    }
    assert (st2.closing_fees_outstanding, st2.closing_interest_outstanding,
            st2.closing_principal) == (0, 275, 15_550)
    assert st2.interest_entry.kind == "interest" and st2.interest_entry.amount == 275
    assert income("interest_income") == 275
    account.refresh_from_db()
    assert account.posted == 15_825
    receivable = LedgerAccount.objects.get(credit_account=account)
    assert ledger_account_balance(ledger_account=receivable) == st2.closing_balance


def test_c_late_payment_late_fee_and_interest_no_grace(account: CreditAccount) -> None:
    """(c) The minimum 25.00 arrives on 05-12, two days after its due date 05-10::

        days 04-16..05-11  26 x 17 550 = 456 300
        days 05-12..05-15   4 x 15 050 =  60 200
                           30 days       516 500   ADB = 17 216.67 -> 17 217
        interest = 516 500 / 2000 = 258.25 -> 258           (no grace: not paid in full)
        late fee = min(30.00, missed minimum 25.00) = 25.00 (12 CFR 1026.52(b)(2)(i)(A))
        closing = 17 550 - 2 500 + 258 + 2 500 = 17 808
        past due at close = max(0, 2 500 - 2 500 paid in the period) = 0
        minimum = max(2 500, round(1 % x (17 808 - 258 - 2 500) = 150.50 -> 150, half to
                  even) + 258 + 2 500) = 2 908
        days past due on 05-15: statement 1's minimum is covered by the payment -> 0, current
    """
    first_statement(account)
    pay(account, 2_500, at(5, 12))
    st2 = close(account, 5, 15)
    assert figures(st2) == {
        "period_start": dt.date(2026, 4, 16), "period_end": dt.date(2026, 5, 15),
        "days_in_period": 30, "opening_balance": 17_550, "purchases": 0, "payments": 2_500,
        "refunds": 0, "interest": 258, "fees": 2_500, "closing_balance": 17_808,
        "average_daily_balance": 17_217, "minimum_payment": 2_908, "past_due_amount": 0,
        "due_date": dt.date(2026, 6, 9), "paid_in_full_prior": False, "days_past_due": 0,
        "delinquency_bucket": "current",
    }
    assert st2.fee_entry.kind == "fee" and st2.fee_entry.amount == 2_500
    assert st2.late_fee == 2_500
    assert income("fee_income") == 2_500 and income("interest_income") == 258
    account.refresh_from_db()
    assert account.posted == 17_808


def test_d_refund(account: CreditAccount) -> None:
    """(d) The 25.50 purchase of 04-10 is refunded on 04-25; the minimum 25.00 is paid on 05-01::

        days 04-16..04-24   9 x 17 550 = 157 950
        days 04-25..04-30   6 x 15 000 =  90 000
        days 05-01..05-15  15 x 12 500 = 187 500
                           30 days       435 450   ADB = 14 515.00 -> 14 515
        credits by 05-10: 25.50 + 25.00 = 50.50 < 175.50 -> no grace
        interest = 435 450 / 2000 = 217.725 -> 218
        closing = 17 550 - 2 550 (refund) - 2 500 (payment) + 218 = 12 718
        minimum = max(2 500, round(125.00) + 218 = 343) = 2 500
        allocation: credits 5 050 -> principal 17 550 -> 12 500; interest outstanding 218
    """
    _, refunded = first_statement(account)
    services.refund_create(actor=ACTOR, entry_id=refunded.pk, amount=2_550,
                           occurred_at=at(4, 25))
    pay(account, 2_500, at(5, 1))
    st2 = close(account, 5, 15)
    assert figures(st2) == {
        "period_start": dt.date(2026, 4, 16), "period_end": dt.date(2026, 5, 15),
        "days_in_period": 30, "opening_balance": 17_550, "purchases": 0, "payments": 2_500,
        "refunds": 2_550, "interest": 218, "fees": 0, "closing_balance": 12_718,
        "average_daily_balance": 14_515, "minimum_payment": 2_500, "past_due_amount": 0,
        "due_date": dt.date(2026, 6, 9), "paid_in_full_prior": False, "days_past_due": 0,
        "delinquency_bucket": "current",
    }
    assert (st2.closing_fees_outstanding, st2.closing_interest_outstanding,
            st2.closing_principal) == (0, 218, 12_500)
    account.refresh_from_db()
    assert account.posted == 12_718
