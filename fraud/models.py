"""Fraud detection records: post-commit scores and the alerts support agents work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Card, CreditAccount
from ledger.models import JournalEntry


class FraudScore(models.Model):
    """The post-commit score of one journal entry (upserted: scoring twice changes nothing).

    ``score`` is a probability-like value in [0, 1]; ``latency_ms`` is commit-to-score time.
    """

    entry = models.OneToOneField(JournalEntry, primary_key=True, on_delete=models.PROTECT,
                                 related_name="fraud_score")
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    model_version = models.CharField(max_length=64)
    scored_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.entry_id}: {self.score:.3f}"


class Alert(models.Model):
    """A suspicious transaction in the support queue, one per journal entry."""

    class Status(models.TextChoices):
        OPEN = "open"
        ESCALATED = "escalated"
        CONFIRMED_FRAUD = "confirmed_fraud"
        FALSE_POSITIVE = "false_positive"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    entry = models.OneToOneField(JournalEntry, on_delete=models.PROTECT, related_name="alert")
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="alerts")
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="alerts")
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-score", "created_at"]

    def __str__(self) -> str:
        return f"alert {self.id} ({self.status}, {self.score:.2f})"
