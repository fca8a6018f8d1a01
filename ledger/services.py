"""Money movement. Every write to the ledger is a service here.

Each service runs in ``transaction.atomic()``, locks the cardholder's CreditAccount row with
``SELECT ... FOR UPDATE`` (several rows: ascending id order), writes one balanced journal entry,
updates the stored balances, records an audit event in the same transaction, and announces the
entry after commit (``ledger.signals.entry_posted``). Callers that need exactly-once semantics
across retries wrap the call in :func:`ledger.idempotency.run_idempotent`, which owns the
outer (durable) transaction.

Amounts are integers of minor units of an ISO 4217 currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import NotFoundError
from accounts.models import Card, CreditAccount
from accounts.selectors import account_get_for
from compliance import audit
from ledger import preauth
from ledger.exceptions import (
    AccountNotActive,
    CardDeclined,
    CurrencyMismatch,
    InsufficientCredit,
    InvalidAmount,
    PaymentExceedsBalance,
)
from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.signals import entry_posted

MERCHANT_SETTLEMENT = "merchant_settlement"
CASH_CLEARING = "cash_clearing"


def validate_amount(amount: object) -> int:
    """A positive integer of minor units, at most ``settings.LEDGER_MAX_AMOUNT``.

    Raises:
        InvalidAmount: bool, float, string, zero, negative or above the maximum.
    """
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount("amount must be an integer of minor units.")
    if amount <= 0:
        raise InvalidAmount("amount must be positive.")
    if amount > settings.LEDGER_MAX_AMOUNT:
        raise InvalidAmount(f"amount must be at most {settings.LEDGER_MAX_AMOUNT}.")
    return amount


def _platform_account(prefix: str, currency: str, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"{prefix}:{currency}", defaults={"kind": kind, "currency": currency}
    )
    return account


def _receivable(account: CreditAccount) -> LedgerAccount:
    """The cardholder's receivable ledger account (created under the account row lock)."""
    ledger_account, _ = LedgerAccount.objects.get_or_create(
        code=f"receivable:{account.pk}",
        defaults={"kind": LedgerAccount.Kind.ASSET, "currency": account.currency,
                  "credit_account": account},
    )
    return ledger_account


def _post_entry(
    *, kind: str, account: CreditAccount, amount: int, legs: list[tuple[LedgerAccount, int]],
    actor: Any, card: Card | None = None, merchant: str = "", description: str = "",
    occurred_at: dt.datetime | None = None, fraud: preauth.PreauthDecision | None = None,
    reverses: JournalEntry | None = None,
) -> JournalEntry:
    """Write one journal entry and its postings; the legs must sum to zero (double entry)."""
    if sum(amt for _, amt in legs) != 0 or len(legs) < 2:
        raise AssertionError("unbalanced journal entry")  # a programming error, never input
    actor_type, actor_id, _ = actor.audit_principal
    entry = JournalEntry.objects.create(
        kind=kind, account=account, amount=amount, currency=account.currency, card=card,
        merchant=merchant, description=description,
        occurred_at=occurred_at or timezone.now(), reverses=reverses,
        fraud_decision=fraud.decision if fraud else "",
        fraud_reasons=list(fraud.reasons) if fraud else [],
        actor_type=actor_type, actor_id=str(actor_id),
    )
    Posting.objects.bulk_create(
        [Posting(entry=entry, ledger_account=la, amount=amt, currency=account.currency)
         for la, amt in legs]
    )
    entry_id, entry_kind = entry.pk, entry.kind
    transaction.on_commit(
        lambda: entry_posted.send(sender=JournalEntry, entry_id=entry_id, kind=entry_kind)
    )
    return entry


def _lock_active_account(*, actor: Any, account_id: object, currency: str) -> CreditAccount:
    account = account_get_for(actor=actor, account_id=account_id, for_update=True)
    if currency != account.currency:
        raise CurrencyMismatch(
            f"This account is in {account.currency}; the request was in {currency}.",
            extra={"account_currency": account.currency},
        )
    if account.status != CreditAccount.Status.ACTIVE:
        raise AccountNotActive(f"The account is {account.status}.")
    return account


@dataclass(frozen=True)
class ChargeResult:
    """A posted charge and the pre-authorization decision that let it through."""

    entry: JournalEntry
    fraud: preauth.PreauthDecision


@transaction.atomic
def charge_create(
    *, actor: Any, account_id: object, amount: int, currency: str, card_id: object = None,
    merchant: str = "", description: str = "", occurred_at: dt.datetime | None = None,
) -> ChargeResult:
    """Post a direct charge of ``amount`` minor units of ``currency`` to a credit account.

    Double entry: debit the cardholder's receivable, credit merchant settlement. The account
    row is locked for the check-and-update of available credit. ``occurred_at`` is the
    transaction time (defaults to now; trusted callers such as the replay command pass the
    original time).

    Raises:
        InvalidAmount, CurrencyMismatch, AccountNotActive, NotFoundError (account or card not
        the actor's), CardDeclined (pre-authorization rules, ``extra['reasons']``),
        InsufficientCredit.
    """
    validate_amount(amount)
    account = _lock_active_account(actor=actor, account_id=account_id, currency=currency)
    card = None
    if card_id is not None:
        card = (Card.objects.filter(pk=card_id, account=account).first()
                if _is_uuid(card_id) else None)
        if card is None:
            raise NotFoundError("No such card on this account.")
    when = occurred_at or timezone.now()
    decision = preauth.decide(preauth.PreauthRequest(
        account=account, card=card, amount=amount, currency=currency, merchant=merchant,
        occurred_at=when,
    ))
    if decision.decision == preauth.DECLINE:
        raise CardDeclined("The charge was declined by pre-authorization rules.",
                           extra={"reasons": list(decision.reasons)})
    if amount > account.available:
        raise InsufficientCredit(
            "The amount exceeds the available credit.", extra={"available": account.available}
        )
    entry = _post_entry(
        kind=JournalEntry.Kind.CHARGE, account=account, amount=amount,
        legs=[(_receivable(account), amount),
              (_platform_account(MERCHANT_SETTLEMENT, currency, LedgerAccount.Kind.LIABILITY),
               -amount)],
        actor=actor, card=card, merchant=merchant, description=description, occurred_at=when,
        fraud=decision,
    )
    account.posted += amount
    account.save(update_fields=["posted", "updated_at"])
    audit.record("charge.posted", actor=actor, object_type="journal_entry", object_id=entry.pk,
                 details={"amount": amount, "currency": currency, "account": str(account.pk),
                          "fraud_decision": decision.decision,
                          "fraud_reasons": list(decision.reasons)})
    return ChargeResult(entry=entry, fraud=decision)


@transaction.atomic
def payment_create(*, actor: Any, account_id: object, amount: int, currency: str) -> JournalEntry:
    """Post a repayment of ``amount`` minor units of ``currency``, reducing what is owed.

    Double entry: debit cash clearing, credit the cardholder's receivable.

    Raises:
        InvalidAmount, CurrencyMismatch, AccountNotActive, NotFoundError,
        PaymentExceedsBalance (more than ``posted``).
    """
    validate_amount(amount)
    account = _lock_active_account(actor=actor, account_id=account_id, currency=currency)
    if amount > account.posted:
        raise PaymentExceedsBalance(
            "The payment is larger than the balance owed.", extra={"posted": account.posted}
        )
    entry = _post_entry(
        kind=JournalEntry.Kind.PAYMENT, account=account, amount=amount,
        legs=[(_platform_account(CASH_CLEARING, currency, LedgerAccount.Kind.ASSET), amount),
              (_receivable(account), -amount)],
        actor=actor,
    )
    account.posted -= amount
    account.save(update_fields=["posted", "updated_at"])
    audit.record("payment.posted", actor=actor, object_type="journal_entry", object_id=entry.pk,
                 details={"amount": amount, "currency": currency, "account": str(account.pk)})
    return entry


def _is_uuid(value: object) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
