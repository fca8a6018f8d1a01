"""Outbox messages, partner webhook endpoints, events, deliveries and their attempts."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A Celery task to start, written in the same transaction as the business change.

    ``topic`` names the route (``settings.OUTBOX_ROUTES``: topic -> Celery task path);
    ``payload`` is ``{"args": [...], "kwargs": {...}}`` for that task. The relay
    (:func:`creditplatform.webhooks.outbox.outbox_relay`) publishes undispatched rows with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` and sets ``dispatched_at``; a row whose publish failed
    gets ``attempts`` + 1 and waits until ``available_at`` (exponential backoff).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["available_at"], name="outbox_pending_idx",
                         condition=models.Q(dispatched_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.id}"


class WebhookEndpoint(models.Model):
    """A partner's HTTPS URL subscribed to event types; signed with a per-endpoint secret.

    The secret is stored only as AES-256-GCM ciphertext (``creditplatform.crypto``, bound to
    table, column and row). After a rotation the previous secret keeps signing too (a second
    ``v1=`` signature) until ``previous_secret_expires_at``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("accounts.ApiClient", on_delete=models.PROTECT,
                               related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    secret_encrypted = models.BinaryField(editable=False)
    previous_secret_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.client_id} {self.url}"


class WebhookEvent(models.Model):
    """One event for one partner; ``id`` is what the receiver deduplicates on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("accounts.ApiClient", on_delete=models.PROTECT,
                               related_name="webhook_events")
    type = models.CharField(max_length=50)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(models.Model):
    """The delivery of one event to one endpoint (unique: never two for the same pair)."""

    class Status(models.TextChoices):
        PENDING = "pending"        # not yet delivered; retried at next_attempt_at
        SUCCEEDED = "succeeded"    # a 2xx answer: never sent again automatically
        FAILED = "failed"          # gave up after settings.WEBHOOKS_MAX_ATTEMPTS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT,
                                 related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx",
                         condition=models.Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery (the delivery log the admin shows)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE,
                                 related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"
