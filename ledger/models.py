"""Double-entry ledger: ledger accounts, journal entries, postings; idempotency records.

Amounts are integers of minor units of an ISO 4217 currency. A posting's amount is signed:
positive is a debit, negative a credit; the postings of one journal entry sum to zero per
currency (checked in the services and, on PostgreSQL, by a deferred constraint trigger).
Journal entries and postings are append-only (triggers reject UPDATE, DELETE and TRUNCATE);
a correction is a reversal entry linked to its original, at most one per original.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import Card, CreditAccount


class LedgerAccount(models.Model):
    """A ledger account: a cardholder's receivable, or a platform account per currency.

    ``code`` is unique: ``receivable:<credit account id>``, ``merchant_settlement:EUR``,
    ``cash_clearing:EUR``. Balances of platform accounts are sums of postings (no hot row).
    """

    class Kind(models.TextChoices):
        ASSET = "asset"
        LIABILITY = "liability"
        INCOME = "income"
        EXPENSE = "expense"

    id = models.BigAutoField(primary_key=True)
    code = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    credit_account = models.OneToOneField(
        CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
        related_name="ledger_account",
    )

    def __str__(self) -> str:
        return self.code


class JournalEntry(models.Model):
    """One business event in the ledger (a charge, a payment, ...) with its postings.

    ``amount`` is the positive size of the event in minor units of ``currency``; the signed
    legs are the :class:`Posting` rows. ``account`` is the cardholder's credit account it
    concerns (the access policy filters on it).
    """

    class Kind(models.TextChoices):
        CHARGE = "charge"
        PAYMENT = "payment"
        CAPTURE = "capture"
        REFUND = "refund"
        REVERSAL = "reversal"
        INTEREST = "interest"
        FEE = "fee"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="entries")
    merchant = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds",
        help_text="For a refund: the charge or capture it gives money back for.",
    )
    hold = models.OneToOneField(
        "Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="capture_entry",
        help_text="For a capture: the authorization it captured (at most one capture).",
    )
    fraud_decision = models.CharField(max_length=10, blank=True)
    fraud_reasons = models.JSONField(default=list, blank=True)
    actor_type = models.CharField(max_length=20, blank=True)
    actor_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "journal entries"
        permissions = [
            ("refund_journalentry", "Can refund a charge or capture"),
            ("reverse_journalentry", "Can reverse a journal entry"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"]),
            models.Index(fields=["account", "occurred_at"]),
            models.Index(fields=["card", "occurred_at"]),
            models.Index(fields=["merchant", "occurred_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="entry_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.id})"


class Hold(models.Model):
    """An authorization: ``amount`` minor units reserved (``pending``) until captured, voided or
    expired at ``expires_at``. Captured at most once, fully or partly; the rest is released.
    """

    class Status(models.TextChoices):
        OPEN = "open"
        CAPTURED = "captured"
        VOIDED = "voided"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="holds")
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="holds")
    amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    merchant = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    occurred_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    fraud_decision = models.CharField(max_length=10, blank=True)
    fraud_reasons = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["account", "status"]),
            models.Index(fields=["card", "occurred_at"]),
            models.Index(fields=["account", "occurred_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(captured_amount__gte=0)
                & models.Q(captured_amount__lte=models.F("amount")),
                name="hold_captured_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.amount} {self.currency} ({self.status})"


class Posting(models.Model):
    """One leg of a journal entry: a signed amount (debit > 0, credit < 0) on a ledger account."""

    id = models.BigAutoField(primary_key=True)
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    ledger_account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT,
                                       related_name="postings")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="posting_amount_non_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.ledger_account_id} {self.amount:+d} {self.currency}"


class IdempotencyRecord(models.Model):
    """The durable result of one idempotent request (draft-ietf-httpapi-idempotency-key-header).

    Unique per (``scope``, ``key``): scope is the authenticated principal; ``key`` is the
    HMAC-SHA256 of the client's key (never the key itself). ``fingerprint`` is HMAC-SHA256
    over method, route and canonical body. Written in the same transaction as the
    ledger change; business refusals (4xx) are stored too, server faults never.
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    route = models.CharField(max_length=200)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} -> {self.response_status}"


from ledger.billing_models import *  # noqa: E402,F401,F403
