"""Celery tasks of the fraud app: take ids, call a service, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from creditplatform.db_routers import fraud_worker_db
from fraud import services


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=5,
             autoretry_for=(ConnectionError,), retry_backoff=True)
def score_entry(entry_id: str) -> float | None:
    """Score one journal entry (see :func:`fraud.services.entry_score`)."""
    with fraud_worker_db():  # the worker's least-privilege database role, when configured
        fs = services.entry_score(entry_id=entry_id)
    return None if fs is None else fs.score


@shared_task(acks_late=True, reject_on_worker_lost=True, max_retries=5,
             autoretry_for=(ConnectionError,), retry_backoff=True)
def score_entries(entry_ids: list[str]) -> dict[str, float]:
    """Score a batch of journal entries in one transaction (see
    :func:`fraud.scoring.entries_score`); ``{entry id: score}``."""
    from fraud import scoring

    with fraud_worker_db():
        return scoring.entries_score(entry_ids=entry_ids)
