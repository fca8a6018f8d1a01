"""Periodic ledger tasks (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from ledger import idempotency


@shared_task
def idempotency_purge() -> int:
    """Delete idempotency records past their expiry; returns the number deleted."""
    return idempotency.idempotency_purge()


@shared_task
def holds_expire() -> int:
    """Release open authorizations past their expiry (each exactly once)."""
    from ledger import services

    return services.holds_expire()
