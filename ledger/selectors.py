"""Reads of the ledger, always through the access policy."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet, Sum

from accounts.permissions import scope_for_api
from accounts.selectors import account_get_for
from ledger.models import IdempotencyRecord, JournalEntry, LedgerAccount, Posting


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
