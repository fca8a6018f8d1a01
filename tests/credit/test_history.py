"""Alternative data from the platform's own ledger, in the model's raw layout."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.credit import history
from accounts.models import CreditAccount
from ledger import services as ledger
from tests.factories import ACTOR, CustomerFactory

pytestmark = pytest.mark.django_db


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), dt.UTC)


def test_statuses_bills_and_payments_per_month():
    """Six months before 2026-08-15 are Feb..Jul 2026 (k = 1 is July). The account (opened
    'now' in the database) is backdated to January; February: 500.00 spent; March: paid in
    full; April: 1,000.00 spent; May: 100.00 paid (>= 3 %: revolving, 0); June and July:
    nothing paid on a positive balance -> 1, 2 months late."""
    user = CustomerFactory(credit_limit=500_000)
    account = user.credit_accounts.get()
    CreditAccount.objects.filter(pk=account.pk).update(
        created_at=_at(dt.date(2026, 1, 10)))
    account.refresh_from_db()
    ledger.charge_create(actor=ACTOR, account_id=account.pk, amount=50_000, currency="EUR",
                         occurred_at=_at(dt.date(2026, 2, 10)))
    ledger.payment_create(actor=ACTOR, account_id=account.pk, amount=50_000, currency="EUR",
                          occurred_at=_at(dt.date(2026, 3, 5)))
    ledger.charge_create(actor=ACTOR, account_id=account.pk, amount=100_000, currency="EUR",
                         occurred_at=_at(dt.date(2026, 4, 3)))
    ledger.payment_create(actor=ACTOR, account_id=account.pk, amount=10_000, currency="EUR",
                          occurred_at=_at(dt.date(2026, 5, 20)))
    h = history.account_history(account=account, as_of=dt.date(2026, 8, 15))
    rate = history.ntd_per_minor("EUR")
    # k=1 Jul, 2 Jun, 3 May, 4 Apr, 5 Mar, 6 Feb
    assert [h[c] for c in ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")] == \
        [2, 1, 0, -1, -1, -1]
    assert h["BILL_AMT6"] == round(50_000 * rate, 2)   # Feb end
    assert h["BILL_AMT5"] == 0.0                       # Mar end: paid in full
    assert h["BILL_AMT4"] == round(100_000 * rate, 2)  # Apr end
    assert h["BILL_AMT1"] == round(90_000 * rate, 2)   # Jul end
    assert h["PAY_AMT5"] == round(50_000 * rate, 2) and h["PAY_AMT3"] == round(10_000 * rate, 2)
    assert h["LIMIT_BAL"] == round(500_000 * rate, 2)
    assert h["tenure_months"] == 7


def test_months_before_the_account_are_no_consumption():
    user = CustomerFactory()
    account = user.credit_accounts.get()
    h = history.account_history(account=account, as_of=dt.date.today())
    assert [h[c] for c in ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")] == [-2] * 6
    assert h["source"] == "ledger"
