"""Reads of the ledger, always through the access policy."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet, Sum

from accounts.models import CreditAccount
from accounts.permissions import scope_for_api
from accounts.selectors import account_get_for
from creditplatform.errors import NotFoundError
from ledger.models import Hold, IdempotencyRecord, JournalEntry, LedgerAccount, Posting


def entry_list_for(*, actor: Any, account_id: object) -> QuerySet[JournalEntry]:
    """Journal entries of one of ``actor``'s accounts, newest first.

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    account = account_get_for(actor=actor, account_id=account_id)
    return (
        scope_for_api(actor, JournalEntry.objects.all())
        .filter(account=account)
        .select_related("card")
        .order_by("-created_at", "-id")
    )


def idempotency_record_get(*, scope: str, key: str) -> IdempotencyRecord | None:
    """The stored record for (``scope``, ``key``), or None."""
    return IdempotencyRecord.objects.filter(scope=scope, key=key).first()


def ledger_account_balance(*, ledger_account: LedgerAccount) -> int:
    """Sum of the postings of one ledger account, in minor units (debits positive)."""
    total = Posting.objects.filter(ledger_account=ledger_account).aggregate(s=Sum("amount"))["s"]
    return total or 0


def hold_get_for(*, actor: Any, hold_id: object) -> Hold:
    """One authorization of ``actor``.

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s.
    """
    try:
        pk = uuid.UUID(str(hold_id))
        return scope_for_api(actor, Hold.objects.all()).get(pk=pk)
    except (ValueError, Hold.DoesNotExist):
        raise NotFoundError("No such authorization.") from None


@dataclass(frozen=True)
class Statement:
    """An account's activity between ``start`` (inclusive) and ``end`` (exclusive), by
    booking time. Balances are what the cardholder owes, in minor units of ``currency``:
    ``closing = opening + charges + captures - payments - refunds +/- reversals``.
    """

    account: CreditAccount
    start: dt.datetime
    end: dt.datetime
    opening_balance: int
    closing_balance: int
    totals: dict[str, int]
    entries: QuerySet[JournalEntry]


def statement_for(*, actor: Any, account_id: object, start: dt.datetime,
                  end: dt.datetime) -> Statement:
    """Opening and closing balance, totals by kind, and the entries of a period.

    Balances come from the receivable postings (the ledger), not the stored balance, so a
    statement is reproducible for any past period.

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    account = account_get_for(actor=actor, account_id=account_id)
    postings = Posting.objects.filter(ledger_account__credit_account=account)
    opening = postings.filter(entry__created_at__lt=start).aggregate(s=Sum("amount"))["s"] or 0
    movement = (postings.filter(entry__created_at__gte=start, entry__created_at__lt=end)
                .aggregate(s=Sum("amount"))["s"] or 0)
    entries = (JournalEntry.objects.filter(account=account, created_at__gte=start,
                                           created_at__lt=end)
               .select_related("card").order_by("-created_at", "-id"))
    totals = {kind: 0 for kind in JournalEntry.Kind.values}
    for row in entries.order_by().values("kind").annotate(s=Sum("amount")):
        totals[row["kind"]] = row["s"]
    return Statement(account=account, start=start, end=end, opening_balance=opening,
                     closing_balance=opening + movement, totals=totals, entries=entries)


# --- Billing statements (issue 10; defined in ledger.billing_selectors) --------------------
from ledger.billing_selectors import (  # noqa: E402,F401
    billing_minimum_payment_for,
    billing_statement_entries,
    billing_statement_get_for,
    billing_statement_latest,
    billing_statement_list_for,
)
