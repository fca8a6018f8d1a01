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
from django.db.models import Sum
from django.utils import timezone

from accounts.exceptions import NotFoundError
from accounts.models import ApiClient, Card, CreditAccount
from accounts.permissions import scope_for_api
from accounts.selectors import account_get_for, parse_uuid
from compliance import audit
from compliance.audit import SystemActor
from ledger import preauth
from ledger.exceptions import (
    AccountNotActive,
    AlreadyCaptured,
    AlreadyReversed,
    CaptureExceedsHold,
    CardDeclined,
    CardRequired,
    CurrencyMismatch,
    HoldExpired,
    HoldNotOpen,
    InsufficientCredit,
    InvalidAmount,
    NotRefundable,
    PaymentExceedsBalance,
    RefundExceedsCharge,
    ReversalNotAllowed,
)
from ledger.models import Hold, JournalEntry, LedgerAccount, Posting
from ledger.signals import charge_declined, entry_posted, entry_recorded

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
    """The platform's ledger account ``prefix:currency`` (created on first use)."""
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


def _receivable_and_platform(account: CreditAccount, prefix: str, currency: str,
                             kind: str) -> tuple[LedgerAccount, LedgerAccount]:
    """The cardholder's receivable and the platform's ``prefix:currency`` ledger accounts, the
    two legs of every cardholder entry, read in one query; either is created on first use as
    :func:`_receivable` and :func:`_platform_account` do."""
    codes = (f"receivable:{account.pk}", f"{prefix}:{currency}")
    found = {la.code: la for la in LedgerAccount.objects.filter(code__in=codes)}
    return (found.get(codes[0]) or _receivable(account),
            found.get(codes[1]) or _platform_account(prefix, currency, kind))


def _post_entry(
    *, kind: str, account: CreditAccount, amount: int, legs: list[tuple[LedgerAccount, int]],
    actor: Any, card: Card | None = None, merchant: str = "", description: str = "",
    occurred_at: dt.datetime | None = None, fraud: preauth.PreauthDecision | None = None,
    reverses: JournalEntry | None = None, original: JournalEntry | None = None,
    hold: Hold | None = None,
) -> JournalEntry:
    """Write one journal entry and its postings; the legs must sum to zero (double entry)."""
    if sum(amt for _, amt in legs) != 0 or len(legs) < 2:
        raise AssertionError("unbalanced journal entry")  # a programming error, never input
    actor_type, actor_id, _ = actor.audit_principal
    entry = JournalEntry.objects.create(
        kind=kind, account=account, amount=amount, currency=account.currency, card=card,
        merchant=merchant, description=description,
        occurred_at=occurred_at or timezone.now(), reverses=reverses, original=original,
        hold=hold,
        fraud_decision=fraud.decision if fraud else "",
        fraud_reasons=list(fraud.reasons) if fraud else [],
        actor_type=actor_type, actor_id=str(actor_id),
    )
    Posting.objects.bulk_create(
        [Posting(entry=entry, ledger_account=la, amount=amt, currency=account.currency)
         for la, amt in legs]
    )
    entry_id, entry_kind = entry.pk, entry.kind
    entry_recorded.send(sender=JournalEntry, entry_id=entry_id, kind=entry_kind,
                        entry=entry)  # outbox rows
    transaction.on_commit(
        lambda: entry_posted.send(sender=JournalEntry, entry_id=entry_id, kind=entry_kind)
    )
    return entry


def _lock_active_account(*, actor: Any, account_id: object, currency: str) -> CreditAccount:
    account = account_get_for(actor=actor, account_id=account_id, for_update=True)
    _check_account(account, currency)
    return account


def _check_account(account: CreditAccount, currency: str, *, allow_frozen: bool = False) -> None:
    if currency != account.currency:
        raise CurrencyMismatch(
            f"This account is in {account.currency}; the request was in {currency}.",
            extra={"account_currency": account.currency},
        )
    if account.status != CreditAccount.Status.ACTIVE and not (
            allow_frozen and account.status == CreditAccount.Status.FROZEN):
        raise AccountNotActive(f"The account is {account.status}.")


@dataclass(frozen=True)
class ChargeResult:
    """A posted charge and the pre-authorization decision that let it through."""

    entry: JournalEntry
    fraud: preauth.PreauthDecision


def _preauthorize(
    *, actor: Any, account_id: object, card_id: object, amount: int, currency: str,
    merchant: str, when: dt.datetime,
) -> tuple[Card | None, preauth.PreauthDecision]:
    """Card check and pre-authorization rules, before the account row is locked.

    The rules read history only (velocity, card testing, amount against history), so they run
    outside the lock: the lock then covers just the available-credit check and the writes,
    which is what a hot account's throughput depends on. Fraud rules are a soft limit; the
    credit limit is the hard one, and it is checked under the lock.
    """
    account = account_get_for(actor=actor, account_id=account_id)
    _check_account(account, currency)
    card = None
    if card_id is None and isinstance(actor, ApiClient):
        raise CardRequired("Partners charge a card token issued for them.")
    if card_id is not None:
        card = (scope_for_api(actor, Card.objects.filter(pk=card_id, account=account)).first()
                if _is_uuid(card_id) else None)
        if card is None:
            raise NotFoundError("No such card on this account.")
    decision = preauth.decide(preauth.PreauthRequest(
        account=account, card=card, amount=amount, currency=currency, merchant=merchant,
        occurred_at=when,
    ))
    if decision.decision == preauth.DECLINE:
        raise CardDeclined("The charge was declined by pre-authorization rules.",
                           extra={"reasons": list(decision.reasons)})
    return card, decision


def _require_available(account: CreditAccount, amount: int) -> None:
    if amount > account.available:
        raise InsufficientCredit(
            "The amount exceeds the available credit.", extra={"available": account.available}
        )


def _save_balances(account: CreditAccount) -> None:
    """Write the locked account's ``posted`` and ``pending`` (one UPDATE, no re-read).

    Balances are not tracked by django-auditlog: every change of them is a journal entry or an
    authorization, which are audited themselves; limit, status and owner changes are.
    """
    account.updated_at = timezone.now()
    CreditAccount.objects.filter(pk=account.pk).update(
        posted=account.posted, pending=account.pending, updated_at=account.updated_at)


def _announce_declines(func: Any) -> Any:
    """Send ``ledger.signals.charge_declined`` when ``func`` (charge_create) refuses a charge.

    Outside any transaction it is sent at once. Inside one (the idempotency layer runs the
    operation in a savepoint that the refusal rolls back) it rides on the exception as an
    ``after_rollback`` hook, which :func:`ledger.idempotency.run_idempotent` runs in its
    durable transaction after that rollback: receivers then write in the transaction that
    stores the refusal. Other enclosing transactions do not run the hook (no event).
    """
    import functools

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        try:
            return func(**kwargs)
        except (CardDeclined, InsufficientCredit) as exc:
            code, reasons = exc.code, list(exc.extra.get("reasons", []))

            def send() -> None:
                charge_declined.send(
                    sender=JournalEntry, actor=kwargs.get("actor"),
                    account_id=kwargs.get("account_id"), card_id=kwargs.get("card_id"),
                    amount=kwargs.get("amount"), currency=kwargs.get("currency"),
                    code=code, reasons=reasons)

            if transaction.get_connection().in_atomic_block:
                exc.after_rollback = [*getattr(exc, "after_rollback", ()), send]
            else:
                send()
            raise
    return wrapper


@_announce_declines
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
    when = occurred_at or timezone.now()
    card, decision = _preauthorize(actor=actor, account_id=account_id, card_id=card_id,
                                   amount=amount, currency=currency, merchant=merchant, when=when)
    account = _lock_active_account(actor=actor, account_id=account_id, currency=currency)
    _require_available(account, amount)
    receivable, settlement = _receivable_and_platform(
        account, MERCHANT_SETTLEMENT, currency, LedgerAccount.Kind.LIABILITY)
    entry = _post_entry(
        kind=JournalEntry.Kind.CHARGE, account=account, amount=amount,
        legs=[(receivable, amount), (settlement, -amount)],
        actor=actor, card=card, merchant=merchant, description=description, occurred_at=when,
        fraud=decision,
    )
    account.posted += amount
    _save_balances(account)
    audit.record("charge.posted", actor=actor, object_type="journal_entry", object_id=entry.pk,
                 details={"amount": amount, "currency": currency, "account": str(account.pk),
                          "fraud_decision": decision.decision,
                          "fraud_reasons": list(decision.reasons)})
    return ChargeResult(entry=entry, fraud=decision)


@transaction.atomic
def payment_create(*, actor: Any, account_id: object, amount: int, currency: str,
                   occurred_at: dt.datetime | None = None) -> JournalEntry:
    """Post a repayment of ``amount`` minor units of ``currency``, reducing what is owed.

    ``occurred_at``: when the payment was received (defaults to now; trusted callers such as
    billing's worked examples and bank-file imports pass the original time; the API never does).

    Double entry: debit cash clearing, credit the cardholder's receivable. A frozen account
    (delinquency freeze, ledger/billing.py) still takes payments; a closed one does not.

    Raises:
        InvalidAmount, CurrencyMismatch, AccountNotActive (closed), NotFoundError,
        PaymentExceedsBalance (more than ``posted``).
    """
    validate_amount(amount)
    # A frozen (e.g. delinquent, ledger/billing.py) account still takes repayments; closed not.
    account = account_get_for(actor=actor, account_id=account_id, for_update=True)
    _check_account(account, currency, allow_frozen=True)
    if amount > account.posted:
        raise PaymentExceedsBalance(
            "The payment is larger than the balance owed.", extra={"posted": account.posted}
        )
    receivable, clearing = _receivable_and_platform(
        account, CASH_CLEARING, currency, LedgerAccount.Kind.ASSET)
    entry = _post_entry(
        kind=JournalEntry.Kind.PAYMENT, account=account, amount=amount,
        legs=[(clearing, amount), (receivable, -amount)],
        actor=actor, occurred_at=occurred_at,
    )
    account.posted -= amount
    _save_balances(account)
    audit.record("payment.posted", actor=actor, object_type="journal_entry", object_id=entry.pk,
                 details={"amount": amount, "currency": currency, "account": str(account.pk)})
    return entry


def _is_uuid(value: object) -> bool:
    return parse_uuid(value) is not None


# --- Authorizations (holds) ---------------------------------------------------------------


@transaction.atomic
def hold_create(
    *, actor: Any, account_id: object, amount: int, currency: str, card_id: object = None,
    merchant: str = "", description: str = "", occurred_at: dt.datetime | None = None,
    ttl_seconds: int | None = None,
) -> tuple[Hold, preauth.PreauthDecision]:
    """Authorize ``amount`` minor units: reserve it as ``pending`` until capture, void or expiry.

    No journal entry is written (nothing is owed yet); available credit drops at once.
    ``ttl_seconds`` defaults to ``settings.LEDGER_HOLD_TTL_SECONDS`` (7 days, the usual card
    network validity for an authorization).

    Raises:
        As :func:`charge_create`.
    """
    validate_amount(amount)
    when = occurred_at or timezone.now()
    card, decision = _preauthorize(actor=actor, account_id=account_id, card_id=card_id,
                                   amount=amount, currency=currency, merchant=merchant, when=when)
    account = _lock_active_account(actor=actor, account_id=account_id, currency=currency)
    _require_available(account, amount)
    ttl = settings.LEDGER_HOLD_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    hold = Hold.objects.create(
        account=account, card=card, amount=amount, currency=currency, merchant=merchant,
        description=description, occurred_at=when,
        expires_at=timezone.now() + dt.timedelta(seconds=ttl),
        fraud_decision=decision.decision, fraud_reasons=list(decision.reasons),
    )
    account.pending += amount
    _save_balances(account)
    audit.record("hold.created", actor=actor, object_type="hold", object_id=hold.pk,
                 details={"amount": amount, "currency": currency, "account": str(account.pk),
                          "fraud_decision": decision.decision})
    return hold, decision


def _lock_hold(*, actor: Any, hold_id: object) -> tuple[CreditAccount, Hold]:
    """Lock the hold's account row, then the hold row (the one lock order for holds)."""
    if not _is_uuid(hold_id):
        raise NotFoundError("No such authorization.")
    account_id = (scope_for_api(actor, Hold.objects.all()).filter(pk=hold_id)
                  .values_list("account_id", flat=True).first())
    if account_id is None:
        raise NotFoundError("No such authorization.")
    account = account_get_for(actor=actor, account_id=account_id, for_update=True)
    hold = Hold.objects.select_for_update().get(pk=hold_id)
    return account, hold


def _release(account: CreditAccount, hold: Hold, status: str) -> None:
    account.pending -= hold.amount
    _save_balances(account)
    hold.status = status
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "closed_at"])


@transaction.atomic
def hold_capture(*, actor: Any, hold_id: object, amount: int | None = None) -> Hold:
    """Capture an authorization, fully (``amount=None``) or partly; the rest is released.

    Idempotent in itself: capturing a captured hold again with the same amount returns it
    unchanged (one capture entry, ever).

    Raises:
        NotFoundError, InvalidAmount, CaptureExceedsHold, HoldExpired, HoldNotOpen (voided),
        AlreadyCaptured (captured with another amount).
    """
    account, hold = _lock_hold(actor=actor, hold_id=hold_id)
    amount = hold.amount if amount is None else validate_amount(amount)
    if account.status != CreditAccount.Status.ACTIVE and hold.status == Hold.Status.OPEN:
        raise AccountNotActive(f"The account is {account.status}; void the authorization.")
    if hold.status == Hold.Status.CAPTURED:
        if amount == hold.captured_amount:
            return hold
        raise AlreadyCaptured("This authorization was captured already.",
                              extra={"captured_amount": hold.captured_amount})
    if hold.status == Hold.Status.VOIDED:
        raise HoldNotOpen("This authorization was voided.")
    if hold.status == Hold.Status.EXPIRED or hold.expires_at <= timezone.now():
        raise HoldExpired("This authorization has expired.")
    if amount > hold.amount:
        raise CaptureExceedsHold("A capture cannot exceed the authorized amount.",
                                 extra={"authorized": hold.amount})
    receivable, settlement = _receivable_and_platform(
        account, MERCHANT_SETTLEMENT, hold.currency, LedgerAccount.Kind.LIABILITY)
    entry = _post_entry(
        kind=JournalEntry.Kind.CAPTURE, account=account, amount=amount,
        legs=[(receivable, amount), (settlement, -amount)],
        actor=actor, card=hold.card, merchant=hold.merchant, description=hold.description,
        occurred_at=timezone.now(), hold=hold,
        fraud=preauth.PreauthDecision(hold.fraud_decision or preauth.APPROVE,
                                      list(hold.fraud_reasons)),
    )
    account.pending -= hold.amount
    account.posted += amount
    _save_balances(account)
    hold.status = Hold.Status.CAPTURED
    hold.captured_amount = amount
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "captured_amount", "closed_at"])
    audit.record("hold.captured", actor=actor, object_type="hold", object_id=hold.pk,
                 details={"amount": amount, "entry": str(entry.pk)})
    return hold


@transaction.atomic
def hold_void(*, actor: Any, hold_id: object) -> Hold:
    """Void an open authorization, releasing its amount. Voiding twice changes nothing.

    Raises:
        NotFoundError, AlreadyCaptured, HoldExpired.
    """
    account, hold = _lock_hold(actor=actor, hold_id=hold_id)
    if hold.status == Hold.Status.VOIDED:
        return hold
    if hold.status == Hold.Status.CAPTURED:
        raise AlreadyCaptured("A captured authorization cannot be voided; refund it instead.")
    if hold.status == Hold.Status.EXPIRED:
        raise HoldExpired("This authorization has expired; its amount was released.")
    _release(account, hold, Hold.Status.VOIDED)
    audit.record("hold.voided", actor=actor, object_type="hold", object_id=hold.pk,
                 details={"amount": hold.amount})
    return hold


def holds_expire(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Release every open authorization past its expiry, each exactly once.

    Each hold is released in its own transaction under the account and hold row locks, and
    only if it is still open, so concurrent runs (or a capture racing the expiry) never release
    an amount twice. Returns how many holds this call expired.
    """
    actor = SystemActor("holds_expire")
    now = now or timezone.now()
    expired = 0
    ids = list(Hold.objects.filter(status=Hold.Status.OPEN, expires_at__lte=now)
               .order_by("expires_at").values_list("id", flat=True)[:batch])
    for hold_id in ids:
        with transaction.atomic():
            account, hold = _lock_hold(actor=actor, hold_id=hold_id)
            if hold.status != Hold.Status.OPEN or hold.expires_at > now:
                continue
            _release(account, hold, Hold.Status.EXPIRED)
            audit.record("hold.expired", actor=actor, object_type="hold", object_id=hold.pk,
                         details={"amount": hold.amount})
            expired += 1
    return expired


# --- Refunds and reversals -----------------------------------------------------------------


def _lock_entry(*, actor: Any, entry_id: object, permission: str) -> tuple[CreditAccount,
                                                                            JournalEntry]:
    """Find an entry ``actor`` may act on with ``permission``; lock its account row."""
    if not _is_uuid(entry_id):
        raise NotFoundError("No such transaction.")
    entry = (scope_for_api(actor, JournalEntry.objects.all(), permission=permission)
             .filter(pk=entry_id).first())
    if entry is None:
        raise NotFoundError("No such transaction.")
    account = CreditAccount.objects.select_for_update().get(pk=entry.account_id)
    return account, entry


@transaction.atomic
def refund_create(*, actor: Any, entry_id: object, amount: int,
                  occurred_at: dt.datetime | None = None) -> JournalEntry:
    """Refund part or all of a charge or capture: never more than what is left of it.
    ``occurred_at`` as for :func:`payment_create` (defaults to now; the API never passes it).

    Double entry: debit merchant settlement, credit the cardholder's receivable. Needs the
    ``ledger.refund_journalentry`` permission (merchants' partners and staff, not cardholders).

    Raises:
        NotFoundError, InvalidAmount, NotRefundable, RefundExceedsCharge.
    """
    validate_amount(amount)
    account, original = _lock_entry(actor=actor, entry_id=entry_id,
                                    permission="ledger.refund_journalentry")
    if original.kind not in (JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE):
        raise NotRefundable("Only charges and captures can be refunded.")
    if JournalEntry.objects.filter(reverses=original).exists():
        raise NotRefundable("A reversed charge cannot be refunded.")
    refunded = original.refunds.aggregate(s=Sum("amount"))["s"] or 0
    left = original.amount - refunded
    if amount > left:
        raise RefundExceedsCharge("The refund exceeds what is left of the charge.",
                                  extra={"refundable": left})
    receivable, settlement = _receivable_and_platform(
        account, MERCHANT_SETTLEMENT, account.currency, LedgerAccount.Kind.LIABILITY)
    entry = _post_entry(
        kind=JournalEntry.Kind.REFUND, account=account, amount=amount,
        legs=[(settlement, amount), (receivable, -amount)],
        actor=actor, card=original.card, merchant=original.merchant, original=original,
        description=f"refund of {original.pk}", occurred_at=occurred_at,
    )
    account.posted -= amount
    _save_balances(account)
    audit.record("refund.posted", actor=actor, object_type="journal_entry", object_id=entry.pk,
                 details={"amount": amount, "original": str(original.pk)})
    return entry


@transaction.atomic
def reversal_create(*, actor: Any, entry_id: object, reason: str) -> JournalEntry:
    """Reverse a journal entry: a new entry with every posting negated, linked to it.

    At most one reversal per entry (a OneToOne link; the database refuses a second). Needs
    the ``ledger.reverse_journalentry`` permission (operations staff).

    Raises:
        NotFoundError, AlreadyReversed, ReversalNotAllowed (a reversal, a refunded charge, or
        a payment whose reversal would exceed the credit limit).
    """
    account, entry = _lock_entry(actor=actor, entry_id=entry_id,
                                 permission="ledger.reverse_journalentry")
    if JournalEntry.objects.filter(reverses=entry).exists():
        raise AlreadyReversed("This entry was reversed already.")
    if entry.kind == JournalEntry.Kind.REVERSAL or entry.refunds.exists():
        raise ReversalNotAllowed("Reversals and refunded charges cannot be reversed.")
    postings = list(entry.postings.select_related("ledger_account"))
    receivable_delta = -sum(p.amount for p in postings
                            if p.ledger_account.credit_account_id == account.pk)
    if account.posted + receivable_delta + account.pending > account.credit_limit:
        raise ReversalNotAllowed("The reversal would exceed the credit limit.")
    reversal = _post_entry(
        kind=JournalEntry.Kind.REVERSAL, account=account, amount=entry.amount,
        legs=[(p.ledger_account, -p.amount) for p in postings], actor=actor, card=entry.card,
        merchant=entry.merchant, description=reason[:200], reverses=entry,
    )
    account.posted += receivable_delta
    _save_balances(account)
    audit.record("entry.reversed", actor=actor, object_type="journal_entry",
                 object_id=reversal.pk, details={"reverses": str(entry.pk), "reason": reason})
    return reversal
