"""Exactly-once execution of state-changing requests.

Semantics of IETF draft-ietf-httpapi-idempotency-key-header, as Stripe implements them.

* Scope: the authenticated principal + the key. Fingerprint: SHA-256 over method, route and the
  canonical JSON body.
* The durable record (:class:`ledger.models.IdempotencyRecord`) is written in the same
  transaction as the ledger change. On PostgreSQL a transaction-scoped advisory lock on
  (scope, key) makes a concurrent duplicate answer 409 instead of running twice; on SQLite the
  IMMEDIATE transaction mode serializes writers.
* Redis (the Django cache) is only a fast path for completed replays: when it is down the
  database decides, so Redis down never means a duplicate charge.
* Missing key 400; same key with another request 422; in flight 409; completed: the stored
  status and body with ``Idempotent-Replayed: true``. Business refusals (4xx) are stored and
  replayed; anything else (5xx, crashes) rolls back and stores nothing, so a retry runs once.
* Records expire after ``settings.IDEMPOTENCY_TTL_SECONDS`` (default 24 h);
  ``ledger.tasks.idempotency_purge`` deletes expired ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from compliance import audit
from creditplatform import crypto
from creditplatform.errors import ApplicationError, problem
from ledger.exceptions import (
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyMismatch,
    IdempotencyKeyMissing,
)
from ledger.models import IdempotencyRecord

logger = logging.getLogger(__name__)
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class IdempotentResult:
    """What to answer: ``status`` and JSON ``body``; ``replayed`` for a stored answer."""

    status: int
    body: dict[str, Any]
    replayed: bool


def validate_key(key: str | None) -> str:
    """Accept 1-255 printable ASCII characters (0x20-0x7E).

    Raises:
        IdempotencyKeyMissing: no key or an empty one.
        IdempotencyKeyInvalid: too long or with other characters.
    """
    if key is None or key == "":
        raise IdempotencyKeyMissing(f"Send an {HEADER} header (1-255 printable ASCII characters).")
    if len(key) > 255 or any(not 0x20 <= ord(ch) <= 0x7E for ch in key):
        raise IdempotencyKeyInvalid(f"{HEADER} must be 1-255 printable ASCII characters.")
    return key


def stored_key(key: str) -> str:
    """The key as stored and cached: HMAC-SHA256 (blind-index key), never the key itself, so
    a client that puts a card number or a token in its key leaves nothing readable."""
    return crypto.blind_index(key, purpose="idempotency-key")


def fingerprint(*, method: str, route: str, body: Any) -> str:
    """HMAC-SHA256 hex (the key ring's blind-index key) over ``method``, ``route`` and the
    canonical JSON of ``body``.

    Keyed, not a plain SHA-256: a body may hold a PAN, and an unkeyed hash of a PAN with its
    bin and last4 known can be reversed by brute force (PCI DSS v4.0 3.5.1.1).
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return crypto.blind_index(f"{method.upper()}\n{route}\n{canonical}",
                              purpose="idempotency-fingerprint")


def _cache_key(scope: str, key: str) -> str:
    return "idem:" + crypto.blind_index(f"{scope}\x00{key}", purpose="idempotency-cache")


def _lock_id(scope: str, key: str) -> int:
    digest = hashlib.sha256(f"idempotency\x00{scope}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _try_lock(scope: str, key: str) -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite: IMMEDIATE transactions already serialize writers
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_id(scope, key)])
        return bool(cur.fetchone()[0])


def _cache_get(scope: str, key: str) -> dict[str, Any] | None:
    try:
        return cache.get(_cache_key(scope, key))
    except Exception:  # noqa: BLE001 - Redis is a fast path; the database decides
        logger.warning("idempotency cache unavailable (read)")
        return None


def _cache_set(scope: str, key: str, value: dict[str, Any], ttl: int) -> None:
    try:
        cache.set(_cache_key(scope, key), value, ttl)
    except Exception:  # noqa: BLE001
        logger.warning("idempotency cache unavailable (write)")


def _replay(stored: dict[str, Any], fp: str) -> IdempotentResult:
    if stored["fingerprint"] != fp:
        raise IdempotencyKeyMismatch(
            "This Idempotency-Key was used with a different request; use a new key."
        )
    return IdempotentResult(status=stored["status"], body=stored["body"], replayed=True)


def run_idempotent(
    *, actor: Any, key: str | None, method: str, route: str, body: Any,
    operation: Callable[[], tuple[int, dict[str, Any]]],
) -> IdempotentResult:
    """Run ``operation`` at most once for (``actor``'s scope, ``key``) and the same request.

    ``operation`` returns ``(status, body)`` and may raise
    :class:`~creditplatform.errors.ApplicationError`; a 4xx refusal is stored and replayed like
    a success (and audited as ``request.refused``). Any other exception propagates and stores
    nothing.

    Raises:
        IdempotencyKeyMissing, IdempotencyKeyInvalid (400), IdempotencyKeyMismatch (422),
        IdempotencyKeyInUse (409), and whatever ``operation`` raises that is not a 4xx refusal.
    """
    key = stored_key(validate_key(key))
    scope = actor.idempotency_scope
    fp = fingerprint(method=method, route=route, body=body)

    cached = _cache_get(scope, key)
    if cached is not None:
        return _replay(cached, fp)

    ttl = settings.IDEMPOTENCY_TTL_SECONDS
    with transaction.atomic(durable=True):
        if not _try_lock(scope, key):
            raise IdempotencyKeyInUse("A request with this Idempotency-Key is in progress.",
                                      extra={"retry_after": 1})
        now = timezone.now()
        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is not None and record.expires_at <= now:
            record.delete()
            record = None
        if record is not None:
            stored = {"fingerprint": record.fingerprint, "status": record.response_status,
                      "body": record.response_body}
            result = _replay(stored, fp)
        else:
            try:
                with transaction.atomic():
                    status, response_body = operation()
            except ApplicationError as exc:
                if exc.status >= 500:
                    raise
                status = exc.status
                response_body = problem(exc.status, exc.code, exc.title, exc.message, **exc.extra)
                audit.record("request.refused", actor=actor, outcome="failure",
                             object_type="route", object_id=route[:64],
                             details={"code": exc.code, "status": exc.status, "method": method})
                for hook in getattr(exc, "after_rollback", ()):  # e.g. charge_declined
                    hook()  # runs in this (durable) transaction, after the savepoint's rollback
            response_body = json.loads(json.dumps(response_body, cls=DjangoJSONEncoder))
            IdempotencyRecord.objects.create(
                scope=scope, key=key, fingerprint=fp, method=method.upper(), route=route[:200],
                response_status=status, response_body=response_body,
                expires_at=now + timedelta(seconds=ttl),
            )
            stored = {"fingerprint": fp, "status": status, "body": response_body}
            result = IdempotentResult(status=status, body=response_body, replayed=False)
        transaction.on_commit(lambda: _cache_set(scope, key, stored, ttl))
    return result


def idempotency_purge(*, now: Any = None, batch: int = 5000) -> int:
    """Delete expired idempotency records in batches; returns how many were deleted."""
    now = now or timezone.now()
    deleted = 0
    while True:
        ids = list(IdempotencyRecord.objects.filter(expires_at__lte=now)
                   .values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]
