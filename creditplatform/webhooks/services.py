"""Webhook writes: endpoints (create, delete, rotate secret), event fan-out, delivery attempts.

Every public write is keyword-only, takes ``actor=`` and records an audit event in its own
transaction. Secrets are returned once (create, rotate) and stored only encrypted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance import audit
from creditplatform import crypto
from creditplatform.webhooks import delivery as http
from creditplatform.webhooks import signing
from creditplatform.webhooks.events import EVENT_TYPES
from creditplatform.webhooks.exceptions import ScopeRequired, UnknownEventType, UnsafeWebhookUrl
from creditplatform.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from creditplatform.webhooks.outbox import backoff_seconds
from creditplatform.webhooks.urlguard import check_url

logger = logging.getLogger(__name__)
SCOPE = "webhooks:manage"
_TABLE = "webhooks_webhookendpoint"


def _require_scope(actor: Any) -> None:
    from accounts.models import ApiClient

    if isinstance(actor, ApiClient) and not actor.has_scope(SCOPE):
        raise ScopeRequired("This API key lacks the webhooks:manage scope.")


def _seal(endpoint_id: object, column: str, secret: str) -> bytes:
    return crypto.encrypt(secret.encode(), aad=crypto.aad_for(_TABLE, column, endpoint_id))


def _open(endpoint_id: object, column: str, blob: bytes) -> str:
    return crypto.decrypt(bytes(blob), aad=crypto.aad_for(_TABLE, column, endpoint_id)).decode()


def endpoint_secrets(endpoint: WebhookEndpoint, *, now: dt.datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, then the previous one during its overlap."""
    now = now or timezone.now()
    result = [_open(endpoint.pk, "secret", endpoint.secret_encrypted)]
    if (endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at
            and endpoint.previous_secret_expires_at > now):
        result.append(_open(endpoint.pk, "previous_secret", endpoint.previous_secret_encrypted))
    return result


def _validate_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown or not event_types:
        raise UnknownEventType("Subscribe to at least one known event type.",
                               extra={"unknown": unknown, "known": list(EVENT_TYPES)})
    return sorted(set(event_types))


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its plaintext secret, shown once to the partner."""

    endpoint: WebhookEndpoint
    secret: str


@transaction.atomic
def endpoint_create(*, actor: Any, client: Any, url: str, event_types: list[str],
                    description: str = "") -> EndpointWithSecret:
    """Subscribe ``client`` (an ApiClient) at ``url`` to ``event_types``.

    Raises:
        ScopeRequired (403): a partner actor without ``webhooks:manage``.
        UnsafeWebhookUrl (400): see :mod:`creditplatform.webhooks.urlguard`.
        UnknownEventType (400).
    """
    _require_scope(actor)
    check_url(url)
    types = _validate_event_types(event_types)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(id=uuid.uuid4(), client=client, url=url, event_types=types,
                               description=description)
    endpoint.secret_encrypted = _seal(endpoint.pk, "secret", secret)
    endpoint.save(force_insert=True)
    audit.record("webhook.endpoint_created", actor=actor, object_type="webhook_endpoint",
                 object_id=endpoint.pk, details={"event_types": types, "client": str(client.pk)})
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


@transaction.atomic
def endpoint_delete(*, actor: Any, endpoint: WebhookEndpoint) -> None:
    """Stop deliveries to ``endpoint`` (soft delete: the delivery log stays).

    Raises:
        ScopeRequired (403).
    """
    _require_scope(actor)
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, deleted_at=now,
                                                          updated_at=now)
    WebhookDelivery.objects.filter(endpoint=endpoint, status=WebhookDelivery.Status.PENDING) \
        .update(status=WebhookDelivery.Status.FAILED, last_error="endpoint deleted")
    audit.record("webhook.endpoint_deleted", actor=actor, object_type="webhook_endpoint",
                 object_id=endpoint.pk)


@transaction.atomic
def endpoint_rotate_secret(*, actor: Any, endpoint: WebhookEndpoint,
                           overlap_seconds: int | None = None) -> EndpointWithSecret:
    """A new secret for ``endpoint``; the old one keeps signing (second ``v1=``) for
    ``overlap_seconds`` (default ``settings.WEBHOOKS_SECRET_OVERLAP_SECONDS``, 24 h; 0 ends it
    at once, e.g. after a leak).

    Raises:
        ScopeRequired (403).
    """
    _require_scope(actor)
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    overlap = (settings.WEBHOOKS_SECRET_OVERLAP_SECONDS if overlap_seconds is None
               else overlap_seconds)
    old = _open(locked.pk, "secret", locked.secret_encrypted)
    secret = signing.new_secret()
    locked.secret_encrypted = _seal(locked.pk, "secret", secret)
    locked.previous_secret_encrypted = _seal(locked.pk, "previous_secret", old)
    locked.previous_secret_expires_at = timezone.now() + dt.timedelta(seconds=overlap)
    locked.save(update_fields=["secret_encrypted", "previous_secret_encrypted",
                               "previous_secret_expires_at", "updated_at"])
    audit.record("webhook.secret_rotated", actor=actor, object_type="webhook_endpoint",
                 object_id=locked.pk, details={"overlap_seconds": overlap})
    return EndpointWithSecret(endpoint=locked, secret=secret)


# --- events --------------------------------------------------------------------------------

@transaction.atomic
def event_publish(*, event_id: object, event_type: str, client_id: object,
                  data: dict[str, Any]) -> list[WebhookDelivery]:
    """Record event ``event_id`` for partner ``client_id`` and one delivery per live endpoint
    subscribed to ``event_type``; queue them after commit. Idempotent: a second call with the
    same ``event_id`` creates nothing and returns ``[]``.
    """
    event, created = WebhookEvent.objects.get_or_create(
        pk=event_id, defaults={"type": event_type, "client_id": client_id, "data": data})
    if not created:
        return []
    endpoints = WebhookEndpoint.objects.filter(client_id=client_id, is_active=True,
                                               deleted_at__isnull=True)
    deliveries = [WebhookDelivery.objects.create(event=event, endpoint=e)
                  for e in endpoints if event_type in e.event_types]
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(ids: list[Any], countdown: float | None = None) -> None:
    from creditplatform.webhooks.tasks import webhook_deliver

    for pk in ids:
        try:
            webhook_deliver.apply_async(args=[str(pk)], countdown=countdown)
        except Exception:  # noqa: BLE001 - the sweep re-queues due deliveries
            logger.warning("could not queue a webhook delivery; the sweep will")


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body a receiver gets: ``{id, type, created, data}`` (compact, sorted keys)."""
    return json.dumps({"id": str(event.pk), "type": event.type,
                       "created": event.created_at.isoformat(), "data": event.data},
                      separators=(",", ":"), sort_keys=True).encode()


# --- deliveries ----------------------------------------------------------------------------

def delivery_attempt(*, delivery_id: object, manual: bool = False) -> WebhookDelivery | None:
    """Try one delivery now: POST the signed event, log the attempt, schedule the next one.

    The delivery row is locked ``FOR UPDATE SKIP LOCKED`` for the whole attempt: two workers
    never send it at once, and one that finds it locked returns ``None``. A delivery that
    succeeded is never sent again (dedup by event id per endpoint); a failure waits
    :func:`~creditplatform.webhooks.outbox.backoff_seconds` (exponential, full jitter, base
    ``WEBHOOKS_RETRY_BASE_SECONDS``), and after ``WEBHOOKS_MAX_ATTEMPTS`` it is ``failed``.
    ``manual`` (the admin's redeliver) also retries a ``failed`` delivery.
    """
    from creditplatform import metrics

    retry_in: float | None = None
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("event", "endpoint").filter(pk=delivery_id).first())
        if delivery is None:
            return None
        if delivery.status == WebhookDelivery.Status.SUCCEEDED:
            return delivery
        if delivery.status == WebhookDelivery.Status.FAILED and not manual:
            return delivery
        endpoint, event = delivery.endpoint, delivery.event
        now = timezone.now()
        if endpoint.deleted_at is not None or not endpoint.is_active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "endpoint deleted"
            delivery.save(update_fields=["status", "last_error"])
            return delivery
        body = event_body(event)
        headers = {
            signing.SIGNATURE_HEADER: signing.signature_header(
                endpoint_secrets(endpoint, now=now), int(now.timestamp()), body),
            signing.EVENT_ID_HEADER: str(event.pk),
            signing.EVENT_TYPE_HEADER: event.type,
        }
        try:
            result = http.post(endpoint.url, body, headers)
        except UnsafeWebhookUrl as exc:  # DNS now points inside: never connect
            result = http.HttpResult(status=None, error=f"refused: {exc.message}"[:300],
                                     duration_ms=0)
        WebhookAttempt.objects.create(delivery=delivery, attempted_at=now,
                                      status_code=result.status, error=result.error,
                                      duration_ms=result.duration_ms, manual=manual)
        delivery.attempts += 1
        delivery.last_status_code = result.status
        delivery.last_error = result.error
        if result.ok:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
            metrics.WEBHOOK_DELIVERIES.labels(outcome="succeeded").inc()
        else:
            metrics.WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
            metrics.WEBHOOK_FAILURES.labels(event_type=event.type).inc()
            if delivery.attempts >= settings.WEBHOOKS_MAX_ATTEMPTS:
                delivery.status = WebhookDelivery.Status.FAILED
            else:
                delivery.status = WebhookDelivery.Status.PENDING
                retry_in = backoff_seconds(delivery.attempts,
                                           base=settings.WEBHOOKS_RETRY_BASE_SECONDS,
                                           cap=settings.WEBHOOKS_RETRY_CAP_SECONDS)
                delivery.next_attempt_at = now + dt.timedelta(seconds=retry_in)
        delivery.save(update_fields=["attempts", "last_status_code", "last_error", "status",
                                     "delivered_at", "next_attempt_at"])
    if retry_in is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        _enqueue([delivery.pk], countdown=retry_in)  # eager (tests, demo): the sweep retries
    return delivery


def deliveries_sweep(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Queue pending deliveries that are due (a lost retry, a worker killed mid-attempt);
    returns how many. Sending twice is safe: the attempt locks the row and checks status."""
    now = now or timezone.now()
    ids = list(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                              next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:batch])
    _enqueue(ids)
    return len(ids)


@transaction.atomic
def delivery_redeliver(*, actor: Any, delivery_ids: list[Any]) -> int:
    """Queue a manual redelivery of each delivery not yet succeeded (the admin's action);
    a delivery that got a 2xx is never sent again. Returns how many were queued."""
    qs = WebhookDelivery.objects.filter(pk__in=delivery_ids).exclude(
        status=WebhookDelivery.Status.SUCCEEDED)
    ids = list(qs.values_list("pk", flat=True))
    qs.update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now())
    for pk in ids:
        audit.record("webhook.redelivered", actor=actor, object_type="webhook_delivery",
                     object_id=pk)
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)
