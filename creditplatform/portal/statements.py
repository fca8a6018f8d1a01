"""Statements in the portal: billing statements (``ledger.selectors.billing_statement_*``,
closed monthly cycles), and calendar-month activity statements from
``ledger.selectors.statement_for`` for every account; both rendered as PDF (:mod:`.pdf`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from accounts.selectors import account_list_for
from creditplatform.errors import NotFoundError
from creditplatform.portal.money import format_minor
from creditplatform.portal.pdf import StatementDocument, statement_pdf
from ledger import selectors as ledger_selectors
from ledger.models import JournalEntry


def billing_list_for(*, actor: Any) -> list[Any]:
    """The cardholder's billing statements (``ledger.selectors``), newest first."""
    return list(ledger_selectors.billing_statement_list_for(actor=actor))


@dataclass(frozen=True)
class Period:
    """A calendar month (UTC) of one account: ``start`` inclusive, ``end`` exclusive."""

    account: Any
    year: int
    month: int

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        y, m = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return dt.datetime(y, m, 1, tzinfo=dt.UTC)

    @property
    def label(self) -> str:
        return self.start.strftime("%B %Y")


def _months_back(today: dt.date, first: dt.date) -> list[tuple[int, int]]:
    months, y, m = [], today.year, today.month
    while (y, m) >= (first.year, first.month) and len(months) < 24:
        months.append((y, m))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return months


def period_list_for(*, actor: Any, today: dt.date | None = None) -> list[Period]:
    """Monthly statements of each account from its first activity (or opening) to this month,
    newest first, at most 24 per account."""
    today = today or dt.datetime.now(dt.UTC).date()
    periods: list[Period] = []
    for account in account_list_for(actor=actor):
        first_entry = (JournalEntry.objects.filter(account=account).order_by("occurred_at")
                       .values_list("occurred_at", flat=True).first())
        first = min(filter(None, [account.created_at, first_entry])).date()
        periods.extend(Period(account=account, year=y, month=m)
                       for y, m in _months_back(today, first))
    return periods


def period_pdf_for(*, actor: Any, account_id: object, year: int,
                   month: int) -> tuple[bytes, str]:
    """``(pdf bytes, file name)`` of one month of one of ``actor``'s accounts.

    Raises:
        NotFoundError: not ``actor``'s account, or not a valid month.
    """
    if not (1 <= month <= 12 and 2000 <= year <= 2100):
        raise NotFoundError("No such statement.")
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    period = Period(account=None, year=year, month=month)
    st = ledger_selectors.statement_for(actor=actor, account_id=account_id, start=start,
                                        end=period.end)
    doc = StatementDocument(
        title=f"Statement {period.label}", holder=_holder(st.account.owner),
        account_id=str(st.account.pk), currency=st.account.currency,
        period_start=start.date(), period_end=(period.end - dt.timedelta(days=1)).date(),
        opening=st.opening_balance, closing=st.closing_balance, totals=st.totals,
        entries=st.entries)
    return statement_pdf(doc), f"statement-{year:04d}-{month:02d}.pdf"


def billing_pdf_for(*, actor: Any, statement_id: object) -> tuple[bytes, str]:
    """``(pdf bytes, file name)`` of one billing statement of ``actor``.

    Raises:
        NotFoundError: missing, or not ``actor``'s.
    """
    st = ledger_selectors.billing_statement_get_for(actor=actor, statement_id=statement_id)
    cur = st.currency

    totals = {"purchases": st.purchases, "payments": st.payments, "refunds": st.refunds,
              "adjustments": st.adjustments, "interest": st.interest, "fees": st.fees}
    doc = StatementDocument(
        title=f"Statement {st.period_start:%d %b} - {st.period_end:%d %b %Y}",
        holder=_holder(st.account.owner), account_id=str(st.account_id), currency=cur,
        period_start=st.period_start, period_end=st.period_end, opening=st.opening_balance,
        closing=st.closing_balance, totals=totals,
        entries=ledger_selectors.billing_statement_entries(statement=st),
        extra_lines=[("Minimum payment", format_minor(st.minimum_payment, cur)),
                     ("Payment due by", f"{st.due_date:%d %b %Y}"),
                     ("APR", f"{st.apr_bps / 100:.2f} %")])
    return statement_pdf(doc), f"statement-{st.period_end:%Y-%m-%d}.pdf"


def _holder(user: Any) -> str:
    return user.get_full_name() or user.get_username()
