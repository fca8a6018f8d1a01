"""The platform's own alternative data for a credit decision, in the PD model's raw layout.

For an applicant's credit account, over the six full calendar months before the decision
(k = 1 the most recent, as the dataset's PAY_0/BILL_AMT1/PAY_AMT1 are September 2005):

* ``BILL_AMTk`` the posted balance at the end of month k (charges, captures, interest and
  fees add; payments and refunds subtract; a reversal undoes what it reverses);
* ``PAY_AMTk`` the payments received in month k;
* repayment status ``PAY_k`` (the dataset's codes): -2 when there was nothing to pay and no
  spending (also months before the account existed), -1 when the prior month's balance was
  paid in full, 0 when at least the minimum (3 % of it, ``policy.MIN_PAYMENT_RATE``) was paid,
  otherwise the number of consecutive months the minimum was missed (1..8);
* ``LIMIT_BAL`` the current credit limit;
* informational (not model inputs): ``tenure_months``, ``utilization`` (posted / limit).

Amounts are converted from minor units of the account's currency to the training data's unit
(NT$) at a fixed reference rate (:data:`NTD_PER_MINOR`, the 2005 averages, overridable with the
``CREDIT_MODEL_NTD_PER_MINOR`` setting) so that the model reads the scale it was trained on.
An applicant without an account is a thin file: six months of "no consumption" and
``LIMIT_BAL`` = the requested limit.

The ledger is read through the app registry (``apps.get_model``): accounts does not import the
ledger (DESIGN.md "imports flow one way").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from django.conf import settings

from accounts.credit.features import BILL_COLUMNS, PAY_COLUMNS, PAYAMT_COLUMNS

#: NT$ per minor unit: 2005 average exchange rates (Central Bank of the Republic of China
#: (Taiwan)), e.g. 1 EUR = 40.1 NT$ so 1 euro cent = 0.401 NT$.
NTD_PER_MINOR: dict[str, float] = {"TWD": 0.01, "USD": 0.322, "EUR": 0.401, "GBP": 0.586,
                                   "CHF": 0.259, "JPY": 0.292}
DEFAULT_NTD_PER_MINOR = 0.322  # unknown currencies: as USD
MONTHS = 6
ADD_KINDS = {"charge", "capture", "interest", "fee"}
SUB_KINDS = {"payment", "refund"}


def ntd_per_minor(currency: str) -> float:
    table = {**NTD_PER_MINOR, **getattr(settings, "CREDIT_MODEL_NTD_PER_MINOR", {})}
    return float(table.get(currency, DEFAULT_NTD_PER_MINOR))


def _month_start(day: dt.date, back: int) -> dt.date:
    """The first day of the month ``back`` months before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def thin_file(*, requested_limit: int, currency: str) -> dict[str, Any]:
    """History of an applicant with no account: no consumption, LIMIT_BAL = requested."""
    out: dict[str, Any] = {"LIMIT_BAL": round(requested_limit * ntd_per_minor(currency), 2)}
    for k in range(MONTHS):
        out[PAY_COLUMNS[k]] = -2
        out[BILL_COLUMNS[k]] = 0.0
        out[PAYAMT_COLUMNS[k]] = 0.0
    out.update({"source": "thin_file", "tenure_months": 0, "utilization": 0.0})
    return out


def account_history(*, account: Any, as_of: dt.date) -> dict[str, Any]:
    """The raw model inputs of ``account`` for a decision on ``as_of`` (see module doc)."""
    entry_model = apps.get_model("ledger", "JournalEntry")
    tz = dt.UTC
    window_end = _month_start(as_of, 0)
    entries = list(entry_model.objects.filter(
        account=account, occurred_at__lt=dt.datetime.combine(window_end, dt.time(), tz))
        .values_list("kind", "amount", "occurred_at", "reverses__kind"))

    def delta(kind: str, amount: int, reversed_kind: str | None) -> int:
        if kind in ADD_KINDS:
            return amount
        if kind in SUB_KINDS:
            return -amount
        if kind == "reversal" and reversed_kind:
            return -delta(reversed_kind, amount, None)
        return 0

    # month m = 0 (oldest, the month before the window) .. MONTHS (the most recent)
    bounds = [dt.datetime.combine(_month_start(as_of, MONTHS + 1 - m), dt.time(), tz)
              for m in range(MONTHS + 2)]
    bills, paid, spent = [], [], []
    for m in range(MONTHS + 1):
        lo, hi = bounds[m], bounds[m + 1]
        bills.append(sum(delta(k, a, r) for k, a, t, r in entries if t < hi))
        paid.append(sum(a for k, a, t, _ in entries if k == "payment" and lo <= t < hi))
        spent.append(sum(a for k, a, t, _ in entries if k in ADD_KINDS and lo <= t < hi))
    opened = account.created_at.date()
    statuses: list[int] = []
    streak = 0
    for m in range(1, MONTHS + 1):
        prior = bills[m - 1]
        month_end = bounds[m + 1].date()
        if opened >= month_end or (prior <= 0 and spent[m] == 0 and bills[m] <= 0):
            status, streak = -2, 0
        elif prior <= 0 or paid[m] >= prior:
            status, streak = -1, 0
        elif paid[m] >= round(prior * 0.03):
            status, streak = 0, 0
        else:
            streak = min(streak + 1, 8)
            status = streak
        statuses.append(status)
    rate = ntd_per_minor(account.currency)
    out: dict[str, Any] = {"LIMIT_BAL": round(account.credit_limit * rate, 2)}
    for k in range(MONTHS):
        m = MONTHS - k  # k = 0 is the most recent month
        out[PAY_COLUMNS[k]] = statuses[m - 1]
        out[BILL_COLUMNS[k]] = round(bills[m] * rate, 2)
        out[PAYAMT_COLUMNS[k]] = round(paid[m] * rate, 2)
    months_open = (as_of.year - opened.year) * 12 + as_of.month - opened.month
    out.update({"source": "ledger", "account": str(account.pk),
                "tenure_months": max(0, months_open),
                "utilization": round(account.posted / account.credit_limit, 4)
                if account.credit_limit else 0.0})
    return out
