"""Liveness (``/healthz``) and readiness (``/readyz``: database, cache, broker, key ring).

Readiness runs django-health-check checks (``health_check.checks.Database`` and our
``CacheRoundTrip``, ``Broker`` and ``KeyRing`` subclasses of its ``HealthCheck``) in the
request thread and answers ``{"status": "ok"|"unavailable", "checks": {name: "ok"|"error:
..."}}`` with 200 or 503, so a load balancer takes an instance out of rotation as soon as one
dependency fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import HealthCheckException, ServiceUnavailable

from creditplatform import crypto


@dataclasses.dataclass
class CacheRoundTrip(HealthCheck):
    """The Django cache (Redis) stores and returns a value."""

    def run(self) -> None:
        try:
            cache.set("readyz", "1", 5)
            ok = cache.get("readyz") == "1"
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready"
            raise ServiceUnavailable(type(exc).__name__) from exc
        if not ok:  # django-redis ignores exceptions: a miss is the failure signal
            raise ServiceUnavailable("no round trip")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection (skipped when tasks run eagerly)."""

    def run(self) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            return
        from creditplatform.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:  # noqa: BLE001
            raise ServiceUnavailable(type(exc).__name__) from exc


@dataclasses.dataclass
class KeyRing(HealthCheck):
    """The field-encryption key ring loads and unwraps under FIELD_KEK."""

    def run(self) -> None:
        try:
            crypto.keyring()
        except Exception as exc:  # noqa: BLE001
            raise ServiceUnavailable(type(exc).__name__) from exc


def readiness_checks() -> dict[str, HealthCheck]:
    """The checks ``/readyz`` runs, by name."""
    return {"database": Database(), "cache": CacheRoundTrip(), "broker": Broker(),
            "keyring": KeyRing()}


def _run(check: HealthCheck) -> str:
    try:
        if inspect.iscoroutinefunction(check.run):
            asyncio.run(check.run())
        else:
            check.run()
    except HealthCheckException as exc:
        return f"error: {exc.message}"
    except Exception as exc:  # noqa: BLE001
        return f"error: {type(exc).__name__}"
    return "ok"


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving (no dependency checked)."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when database, cache, broker and key ring answer; otherwise 503 naming each."""
    checks = {name: _run(check) for name, check in readiness_checks().items()}
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status=200 if ok else 503)
