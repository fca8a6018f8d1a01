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


@shared_task
def billing_close_cycles(as_of: str | None = None) -> int:
    """Close every billing cycle that ended before ``as_of`` (ISO date; default today), each
    exactly once (:func:`ledger.billing.billing_run`); returns the statements created."""
    import datetime as dt

    from ledger import billing

    return billing.billing_run(as_of=dt.date.fromisoformat(as_of) if as_of else None)
