"""Fraud detection records: post-commit scores and the alerts support agents work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Card, CreditAccount
from ledger.models import JournalEntry


class FraudScore(models.Model):
    """The post-commit score of one journal entry (upserted: scoring twice changes nothing).

    ``score`` is a probability-like value in [0, 1]; ``latency_ms`` is commit-to-score time
    (milliseconds from the entry's ``created_at`` to the score's write).
    """

    entry = models.OneToOneField(JournalEntry, primary_key=True, on_delete=models.PROTECT,
                                 related_name="fraud_score")
    score = models.FloatField()
    reasons = models.JSONField(default=list)
    model_version = models.CharField(max_length=64)
    scored_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField(default=0)
    # the inputs and, for a model score above its review threshold, the top LightGBM
    # contributions ("contrib:<feature>", log-odds) that drove it (fraud.model.Score.features)
    features = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.entry_id}: {self.score:.3f}"


class Alert(models.Model):
    """A case in the support queue, one per journal entry: opened by the scorer above the alert
    threshold (``source="model"``) or by the cardholder disputing the charge
    (``source="dispute"``). ``confirmed_fraud`` and ``false_positive`` are closed
    (:data:`CLOSED`); ``cardholder_answer`` is the "Was this you?" reply ("" : not answered).
    """

    class Status(models.TextChoices):
        OPEN = "open"
        ESCALATED = "escalated"
        CONFIRMED_FRAUD = "confirmed_fraud"
        FALSE_POSITIVE = "false_positive"

    class Source(models.TextChoices):
        MODEL = "model"
        DISPUTE = "dispute"

    class Answer(models.TextChoices):
        WAS_ME = "was_me", "It was me"
        NOT_ME = "not_me", "It was not me"

    CLOSED = (Status.CONFIRMED_FRAUD, Status.FALSE_POSITIVE)

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
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MODEL,
                              db_index=True)
    dispute_reason = models.TextField(blank=True)
    disputed_at = models.DateTimeField(null=True, blank=True)
    cardholder_answer = models.CharField(max_length=10, choices=Answer.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "created_at"]
        permissions = [("decide_alert", "Can decide an alert (confirm, false positive, escalate)")]

    def __str__(self) -> str:
        return f"alert {self.id} ({self.status}, {self.score:.2f})"

    @property
    def is_closed(self) -> bool:
        return self.status in self.CLOSED


class RuleSet(models.Model):
    """One version of the fraud rules and thresholds, edited in the admin (maker-checker).

    Life cycle: ``draft`` (the maker edits it) -> ``pending_approval`` (submitted; frozen) ->
    ``active`` (approved by a different person holding ``fraud.approve_ruleset``; the previous
    active version becomes ``superseded``) or ``rejected``. Only drafts change; at most one
    version is active (a partial unique index). Writes go through :mod:`fraud.services`
    (``ruleset_*``); :func:`fraud.rules.active_rules` is what scoring and pre-authorization read.

    ``params`` holds the pre-authorization thresholds (the keys of
    :data:`fraud.rules.PREAUTH_DEFAULTS`: windows in seconds, amounts in minor units, counts,
    the history ratio). ``risky_merchants`` is the terminal risk list. Scores are in [0, 1]:
    ``alert_threshold`` opens an alert, ``freeze_threshold`` (>= alert) also freezes the card;
    ``review_threshold``/``decline_threshold`` override the model's validated decision
    thresholds when set (None: the registered model's own).
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        PENDING = "pending_approval", "Pending approval"
        ACTIVE = "active"
        SUPERSEDED = "superseded"
        REJECTED = "rejected"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT,
                              db_index=True)
    params = models.JSONField(default=dict)
    risky_merchants = models.JSONField(default=list, blank=True)
    alert_threshold = models.FloatField()
    freeze_threshold = models.FloatField()
    review_threshold = models.FloatField(null=True, blank=True)
    decline_threshold = models.FloatField(null=True, blank=True)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    change_note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("approve_ruleset", "Can approve or reject a submitted rule set")]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="active"),
                                    name="fraud_ruleset_one_active"),
            models.CheckConstraint(condition=models.Q(freeze_threshold__gte=models.F(
                "alert_threshold")), name="fraud_ruleset_freeze_ge_alert"),
        ]

    def __str__(self) -> str:
        return f"rules v{self.pk} ({self.status})"


class FraudLabel(models.Model):
    """A fraud label fed back from people: a support decision or the cardholder's answer.

    ``known_at`` is when the label became known: features and training may use it only for
    transactions after that time (the handbook's KNOWN_AT rule; see ``fraud_score_csv``).
    Several labels may exist for one entry; the latest known one wins.
    """

    class Source(models.TextChoices):
        SUPPORT = "support", "Support decision"
        CARDHOLDER = "cardholder", "Cardholder answer"

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="fraud_labels")
    is_fraud = models.BooleanField()
    known_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="labels")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["known_at"]
        indexes = [models.Index(fields=["entry", "known_at"])]

    def __str__(self) -> str:
        return f"{self.entry_id}: {'fraud' if self.is_fraud else 'genuine'} ({self.source})"


class CardholderNotification(models.Model):
    """A message to the cardholder of ``account`` (shown in the portal), e.g. "we froze your
    card". Flagged charges ("Was this you?") need no row: the portal lists the cardholder's
    alerts (:func:`fraud.selectors.alert_list_for_cardholder`)."""

    class Kind(models.TextChoices):
        CARD_FROZEN = "card_frozen", "Card frozen"
        WAS_THIS_YOU = "was_this_you", "Was this you?"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # the cardholder is the account's owner (the scorer knows the account, not the person)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT,
                                related_name="fraud_notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="notifications")
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} on account {self.account_id}"


from fraud.aggregates import *  # noqa: F401,F403,E402
