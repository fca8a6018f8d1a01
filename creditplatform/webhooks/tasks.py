"""Celery tasks of the webhooks app: take ids, call a service, safe to run twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from creditplatform.webhooks import fanout, outbox, services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def outbox_relay_task() -> int:
    """Publish undispatched outbox rows (Celery beat, every few seconds)."""
    return outbox.outbox_relay()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def outbox_purge_task() -> int:
    """Delete outbox rows dispatched more than a week ago."""
    return outbox.outbox_purge()


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=5,
             autoretry_for=(ConnectionError,), retry_backoff=True)
def webhook_event_fanout(**kwargs: Any) -> int:
    """Turn one outbox row into a partner event and its deliveries (idempotent by event id)."""
    return fanout.fanout(**kwargs)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def webhook_deliver(delivery_id: str) -> str | None:
    """One delivery attempt (see :func:`creditplatform.webhooks.services.delivery_attempt`)."""
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    return None if delivery is None else delivery.status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def webhook_deliveries_sweep() -> int:
    """Queue due pending deliveries (Celery beat)."""
    return services.deliveries_sweep()
