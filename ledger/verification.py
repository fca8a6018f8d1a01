"""Ledger integrity checks shared by ``manage.py verify_ledger``, tests and monitoring.

Checks (each mismatch is reported by name):

* every journal entry has two or more postings that sum to zero per currency (double entry);
* every journal entry's postings are in the entry's currency, and each posting in its ledger
  account's currency (a ledger account holds one currency);
* every credit account's stored ``posted`` equals the sum of its receivable postings, and its
  stored ``pending`` equals the sum of its open authorizations;
* no account's available credit is negative;
* refunds of an entry never exceed it; a reversal mirrors its original exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, F, Sum

from accounts.models import CreditAccount
from ledger.models import Hold, JournalEntry, Posting


@dataclass(frozen=True)
class Mismatch:
    """One broken invariant: ``check`` names the rule, ``subject`` the row, ``detail`` why."""

    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


def _unbalanced_entries() -> Iterator[Mismatch]:
    rows = (Posting.objects.values("entry_id", "currency")
            .annotate(total=Sum("amount")).exclude(total=0))
    for row in rows.iterator():
        yield Mismatch("entry_balanced", f"journal entry {row['entry_id']}",
                       f"postings in {row['currency']} sum to {row['total']}, not 0")
    short = (JournalEntry.objects.annotate(n=Count("postings")).filter(n__lt=2)
             .values_list("id", "n"))
    for entry_id, n in short.iterator():
        yield Mismatch("entry_balanced", f"journal entry {entry_id}",
                       f"has {n} posting(s); double entry needs two or more")
    wrong_currency = (Posting.objects.exclude(currency=F("entry__currency"))
                      .values_list("entry_id", flat=True).distinct())
    for entry_id in wrong_currency.iterator():
        yield Mismatch("entry_currency", f"journal entry {entry_id}",
                       "a posting is in another currency than the entry")
    foreign = (Posting.objects.exclude(currency=F("ledger_account__currency"))
               .values_list("entry_id", "ledger_account__code", "currency",
                            "ledger_account__currency").distinct())
    for entry_id, code, currency, account_currency in foreign.iterator():
        yield Mismatch("posting_account_currency", f"journal entry {entry_id}",
                       f"a posting in {currency} on ledger account {code} ({account_currency})")


def _account_balances() -> Iterator[Mismatch]:
    posted = dict(Posting.objects.filter(ledger_account__credit_account__isnull=False)
                  .values_list("ledger_account__credit_account_id")
                  .annotate(s=Sum("amount")).values_list("ledger_account__credit_account_id",
                                                         "s"))
    pending = dict(Hold.objects.filter(status=Hold.Status.OPEN).values_list("account_id")
                   .annotate(s=Sum("amount")).values_list("account_id", "s"))
    for acc_id, stored_posted, stored_pending, limit in CreditAccount.objects.values_list(
        "id", "posted", "pending", "credit_limit"
    ).iterator():
        ledger_posted = posted.get(acc_id, 0) or 0
        open_holds = pending.get(acc_id, 0) or 0
        if stored_posted != ledger_posted:
            yield Mismatch("account_posted", f"credit account {acc_id}",
                           f"stored posted {stored_posted} != receivable postings {ledger_posted}")
        if stored_pending != open_holds:
            yield Mismatch("account_pending", f"credit account {acc_id}",
                           f"stored pending {stored_pending} != open holds {open_holds}")
        if limit - stored_posted - stored_pending < 0:
            yield Mismatch("account_available", f"credit account {acc_id}",
                           f"available is {limit - stored_posted - stored_pending}")


def _refunds_and_reversals() -> Iterator[Mismatch]:
    over = (JournalEntry.objects.annotate(refunded=Sum("refunds__amount"))
            .filter(refunded__gt=F("amount")).values_list("id", "amount", "refunded"))
    for entry_id, amount, refunded in over.iterator():
        yield Mismatch("refund_limit", f"journal entry {entry_id}",
                       f"refunded {refunded} of {amount}")
    for reversal in (JournalEntry.objects.filter(reverses__isnull=False)
                     .select_related("reverses").iterator()):
        mine = sorted(reversal.postings.values_list("ledger_account_id", "amount"))
        theirs = sorted((la, -amt) for la, amt in
                        reversal.reverses.postings.values_list("ledger_account_id", "amount"))
        if mine != theirs:
            yield Mismatch("reversal_mirror", f"journal entry {reversal.pk}",
                           f"does not mirror {reversal.reverses_id}")


def verify_ledger() -> list[Mismatch]:
    """Run every check; an empty list means the ledger is consistent."""
    return [*_unbalanced_entries(), *_account_balances(), *_refunds_and_reversals()]


__all__ = ["Mismatch", "verify_ledger"]
