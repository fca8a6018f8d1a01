"""The transactional outbox: start Celery tasks exactly when a business change commits.

Writers call :func:`outbox_put` inside their transaction; the row commits or rolls back with
the change, so a committed change always has its task recorded, even if the broker is down at
that moment. Publishing is at-least-once and every routed task is idempotent:

* on commit, :func:`outbox_put` nudges: the same process publishes the row at once
  (:func:`outbox_publish`: one publish, one UPDATE);
* ``creditplatform.webhooks.tasks.outbox_relay_task`` (Celery beat, every few seconds) publishes
  whatever is left (broker down, process killed between commit and publish).

The relay locks rows with ``SELECT ... FOR UPDATE SKIP LOCKED``: two relays (two web processes,
two beat-driven workers) never publish the same row at the same time, and a row is marked
``dispatched_at`` in the transaction that published it. A crash after the broker accepted a
message and before that commit publishes it once more: consumers deduplicate (FraudScore
upsert, WebhookEvent id). Imports no other app of the platform, so any app can write to it.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from creditplatform.webhooks.models import OutboxMessage

logger = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("6b1f3c1e-2f0a-4f55-9a43-3c2f3d1f0b7e")


def _routes() -> dict[str, str]:
    return dict(getattr(settings, "OUTBOX_ROUTES", {}))


def message_id_for(topic: str, key: str) -> uuid.UUID:
    """A deterministic message id (UUIDv5) for ``topic`` and a business key, e.g. the scoring
    of one journal entry: a second :func:`outbox_put` of the same pair is a no-op, and an
    after-commit hook can find the row to publish from the key alone."""
    return uuid.uuid5(_NAMESPACE, f"{topic}\x00{key}")


#: With a nudge, the periodic relay leaves a row alone this long: the committing process
#: publishes it itself (one publish and one UPDATE), and the relay only takes over rows whose
#: publish failed or whose process died between commit and publish.
NUDGE_GRACE = dt.timedelta(seconds=10)


def outbox_put(*, topic: str, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
               nudge: bool = True, message_id: uuid.UUID | None = None,
               using: str | None = None) -> OutboxMessage:
    """Record a task to start when the current transaction commits.

    ``topic`` must be a key of ``settings.OUTBOX_ROUTES``; ``args``/``kwargs`` JSON values.
    With ``nudge`` this process publishes the row right after commit (:func:`outbox_publish`);
    otherwise only the periodic relay publishes it (or an explicit ``outbox_relay(ids=[...])``).
    ``message_id`` (see :func:`message_id_for`) makes the put idempotent: one
    ``INSERT ... ON CONFLICT DO NOTHING``. ``using`` forces a database alias (default: the
    router's choice).

    Raises:
        KeyError: an unknown topic (a programming error).
    """
    if topic not in _routes():
        raise KeyError(f"no OUTBOX_ROUTES entry for topic {topic!r}")
    payload = {"args": list(args), "kwargs": dict(kwargs or {})}
    manager = OutboxMessage.objects.using(using) if using else OutboxMessage.objects
    available_at = timezone.now() + (NUDGE_GRACE if nudge else dt.timedelta(0))
    message = OutboxMessage(topic=topic, payload=payload, available_at=available_at)
    if message_id is None:
        manager.bulk_create([message])
    else:
        message.pk = message_id
        manager.bulk_create([message], ignore_conflicts=True)
    if nudge:
        db = using or message._state.db or "default"
        transaction.on_commit(lambda: _nudge(message, db), using=db)
    return message


def _nudge(message: OutboxMessage, db: str) -> None:
    try:
        outbox_publish(message=message, using=db)
    except Exception:  # noqa: BLE001 - committed already; the periodic relay catches up
        logger.exception("outbox nudge failed; the relay will publish it")


def outbox_publish(*, message: OutboxMessage, using: str = "default") -> bool:
    """The after-commit fast path: publish ``message`` (not locked) and mark it dispatched
    with one conditional UPDATE; returns whether the broker took it.

    A failed publish counts an attempt and delays the row by :func:`backoff_seconds`, as the
    relay does. A relay running at the same moment may publish the row too (it waits
    :data:`NUDGE_GRACE` first): delivery is at-least-once and every routed task idempotent.
    """
    rows = OutboxMessage.objects.using(using).filter(pk=message.pk, dispatched_at__isnull=True)
    try:
        task = import_string(_routes()[message.topic])
        task.apply_async(args=message.payload.get("args", []),
                         kwargs=message.payload.get("kwargs", {}))
    except Exception as exc:  # noqa: BLE001 - broker down, unknown route: the relay retries
        now = timezone.now()
        rows.update(attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:300],
                    available_at=now + dt.timedelta(seconds=backoff_seconds(1)))
        logger.warning("outbox publish failed", extra={"topic": message.topic})
        return False
    if rows.update(dispatched_at=timezone.now()):
        _count_dispatched(message)
    return True


def backoff_seconds(attempts: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempts)] seconds,
    at least 1 s (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015)."""
    return max(1.0, random.uniform(0, min(cap, base * 2 ** attempts)))  # noqa: S311


def _batch_routes() -> dict[str, str]:
    return dict(getattr(settings, "OUTBOX_BATCH_ROUTES", {}))


def batch_task_max() -> int:
    """Most rows one task of an ``OUTBOX_BATCH_ROUTES`` route is given
    (``settings.OUTBOX_BATCH_TASK_MAX``, default 100, at least 1).

    A relay run takes up to ``batch`` rows (500) and publishes them as tasks of at most this
    many: a backlog (a worker restarted, a burst) becomes several tasks instead of one whose
    working set holds the feature state of every account and merchant of 500 charges.
    ``bench/fraud.py`` measured batches of 100 at about 1,200 scores/s
    (``bench/results/fraud-20261129T124908Z.json``)."""
    return max(1, int(getattr(settings, "OUTBOX_BATCH_TASK_MAX", 100)))


def outbox_relay(*, ids: list[Any] | None = None, batch: int = 500,
                 now: dt.datetime | None = None) -> int:
    """Publish due, undispatched outbox rows (only ``ids`` when given); returns how many.

    Each row is locked ``FOR UPDATE SKIP LOCKED`` (rows another relay holds are skipped, not
    waited for), its task published with ``apply_async``, and ``dispatched_at`` set in the
    same transaction. Rows of a topic in ``settings.OUTBOX_BATCH_ROUTES`` are published as
    tasks of that route, each called with the list of up to :func:`batch_task_max` rows' first
    arguments (fraud scoring: one ``score_entries`` call and one model prediction per 100
    charges). A failed
    publish counts an attempt and delays its rows by :func:`backoff_seconds`; it never raises.
    """
    routes, batch_routes = _routes(), _batch_routes()
    now = now or timezone.now()
    published = 0
    with transaction.atomic():
        qs = OutboxMessage.objects.filter(dispatched_at__isnull=True)
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        else:
            qs = qs.filter(available_at__lte=now)
        rows = list(qs.select_for_update(skip_locked=True).order_by("available_at")[:batch])
        groups: list[tuple[str, list[Any], dict[str, Any], list[OutboxMessage]]] = []
        batched: dict[str, list[OutboxMessage]] = {}
        for message in rows:
            if message.topic in batch_routes:
                batched.setdefault(message.topic, []).append(message)
            else:
                groups.append((routes.get(message.topic, ""), message.payload.get("args", []),
                               message.payload.get("kwargs", {}), [message]))
        size = batch_task_max()
        for topic, members in batched.items():
            for start in range(0, len(members), size):
                part = members[start:start + size]
                firsts = [(m.payload.get("args") or [None])[0] for m in part]
                groups.append((batch_routes[topic], [firsts], {}, part))
        for route, args, kwargs, members in groups:
            try:
                with transaction.atomic():  # a task run eagerly (tests) may fail alone
                    import_string(route).apply_async(args=args, kwargs=kwargs)
            except Exception as exc:  # noqa: BLE001 - broker down, unknown route: retry later
                for message in members:
                    message.attempts += 1
                    message.available_at = now + dt.timedelta(
                        seconds=backoff_seconds(message.attempts))
                    message.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    message.save(update_fields=["attempts", "available_at", "last_error"])
                logger.warning("outbox publish failed", extra={"route": route})
                continue
            done = timezone.now()
            OutboxMessage.objects.filter(pk__in=[m.pk for m in members]).update(
                dispatched_at=done)
            for message in members:
                published += 1
                _count_dispatched(message)
    return published


def _count_dispatched(message: OutboxMessage) -> None:
    from creditplatform import metrics

    metrics.OUTBOX_DISPATCHED.labels(topic=message.topic).inc()
    metrics.OUTBOX_LAG.observe(max(0.0, (timezone.now() - message.created_at).total_seconds()))


def outbox_purge(*, older_than: dt.timedelta = dt.timedelta(days=7), batch: int = 5000) -> int:
    """Delete rows dispatched more than ``older_than`` ago; returns how many."""
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(OutboxMessage.objects.filter(dispatched_at__lt=cutoff)
                   .values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.filter(id__in=ids).delete()[0]
