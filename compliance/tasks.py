"""Periodic compliance tasks (Celery beat)."""

from __future__ import annotations

from celery import shared_task

from compliance import sealing


@shared_task
def audit_seal() -> int:
    """Seal ready audit rows into the hash chain; returns the number of seals made."""
    return sealing.seal_all()
