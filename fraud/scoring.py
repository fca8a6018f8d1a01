"""Batch scoring: one worker task scores many committed entries (``fraud.tasks.score_entries``).

The per-entry task (:func:`fraud.services.entry_score`) costs about nine SQL statements per
entry. Here a batch of N entries costs about eight statements in all: the entries, their
existing scores, the feature store (lock + labels + write, :mod:`fraud.feature_store`), the
merchants' confirmed frauds, one ``INSERT`` of the scores; and one LightGBM call
(:func:`fraud.model.score_many`). Entries scoring at or above the alert threshold (rare) are
then handed to :func:`fraud.services.entry_score` one by one, so alerts, card freezes,
notifications and their audit rows have one implementation; their features come from the
snapshots this batch stored, so they score exactly as here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from creditplatform.db_routers import worker_db_alias
from fraud import model, rules, services
from fraud.models import FraudScore
from ledger.models import JournalEntry


def _json_features(features: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in (features or {}).items():
        try:
            out[str(k)] = round(float(v), 6)
        except (TypeError, ValueError):
            continue
    return out


def entries_score(*, entry_ids: Sequence[Any]) -> dict[str, float]:
    """Score committed charges and captures in one transaction; safe to run twice (entries
    already scored are skipped, scores are inserted ``ON CONFLICT DO NOTHING``).

    Returns ``{entry id: score}`` of the entries scored or found scored (unknown ids and other
    kinds are left out). Scores below ``active_rules()["alert_threshold"]`` are written here;
    the others go through :func:`fraud.services.entry_score` after this transaction commits.
    """
    alias = worker_db_alias()
    high: list[Any] = []
    result: dict[str, float] = {}
    with transaction.atomic(using=alias):
        entries = list(JournalEntry.objects.only(*services.SCORED_ENTRY_FIELDS).filter(
            pk__in=list(entry_ids),
            kind__in=[JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE]))
        done = dict(FraudScore.objects.filter(entry_id__in=[e.pk for e in entries])
                    .values_list("entry_id", "score"))
        result.update({str(k): v for k, v in done.items()})
        todo = [e for e in entries if e.pk not in done]
        threshold = rules.active_rules()["alert_threshold"]
        now = timezone.now()
        rows = []
        for e, s in zip(todo, model.score_many(todo), strict=True):
            result[str(e.pk)] = s.value
            if s.value >= threshold:
                high.append(e.pk)
                continue
            rows.append(FraudScore(
                entry=e, score=s.value, reasons=s.reasons, model_version=s.model_version,
                scored_at=now, features=_json_features(s.features),
                latency_ms=max(0, int((now - e.created_at).total_seconds() * 1000))))
        FraudScore.objects.bulk_create(rows, ignore_conflicts=True)
    for pk in high:
        fs = services.entry_score(entry_id=pk)
        if fs is not None:
            result[str(pk)] = fs.score
    return result
