"""Fraud writes: scoring an entry (idempotent upsert) and opening alerts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.audit import SystemActor
from creditplatform.db_routers import worker_db_alias
from fraud import model
from fraud.models import Alert, FraudScore
from ledger.models import JournalEntry

SCORER = SystemActor("fraud_scorer")
# The journal entry columns scoring reads: the fraud worker's database role may SELECT these and
# no others (fraud/management/commands/create_fraud_db_role.py, GRANTS).
SCORED_ENTRY_FIELDS = ("id", "kind", "account", "card", "amount", "currency", "merchant",
                       "occurred_at", "created_at", "fraud_decision")


def entry_score(*, entry_id: Any) -> FraudScore | None:
    """Score a charge after commit, upsert its :class:`FraudScore`, open an alert above
    ``settings.FRAUD_ALERT_THRESHOLD``. Safe to run twice: the second run changes nothing.

    Returns None when the entry does not exist (e.g. rolled back) or is not a charge.
    """
    # As the fraud worker (fraud.tasks) this runs on its least-privilege alias: the transaction
    # and select_for_update must use the alias the router sends the queries to.
    with transaction.atomic(using=worker_db_alias()):
        return _entry_score(entry_id=entry_id)


def _entry_score(*, entry_id: Any) -> FraudScore | None:
    entry = JournalEntry.objects.only(*SCORED_ENTRY_FIELDS).filter(
        pk=entry_id, kind__in=[JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE]).first()
    if entry is None:
        return None
    existing = FraudScore.objects.select_for_update().filter(entry=entry).first()
    if existing is not None:
        return existing
    result = model.score(entry)
    now = timezone.now()
    fs = FraudScore.objects.create(
        entry=entry, score=result.value, reasons=result.reasons,
        model_version=result.model_version, scored_at=now,
        latency_ms=max(0, int((now - entry.created_at).total_seconds() * 1000)),
    )
    if result.value >= settings.FRAUD_ALERT_THRESHOLD:
        alert, created = Alert.objects.get_or_create(
            entry=entry,
            defaults={"account_id": entry.account_id, "card_id": entry.card_id,
                      "score": result.value, "reasons": result.reasons},
        )
        if created:
            audit.record("fraud.alert_opened", actor=SCORER, object_type="alert",
                         object_id=alert.pk,
                         details={"entry": str(entry.pk), "score": round(result.value, 4),
                                  "reasons": result.reasons})
    return fs
