"""Post-commit fraud scoring.

``RULES_V1`` is an interpretable scorecard over the handbook's standard features (Le Borgne et
al., *Reproducible Machine Learning for Credit Card Fraud Detection*, ch. 3: customer spending
over 1/7/30 days, terminal risk with label delay). Each signal maps to a score in [0, 1] and a
reason code; the entry's score is the largest.

When a model is registered (``fraud/artifacts``, see :mod:`fraud.ml`), :func:`score` returns its
probability, computed from :class:`fraud.features.FeatureState` kept incrementally in the
live feature store (:func:`fraud.feature_store.entry_features`: the entry's account and
merchant state, no scan of history). The scorecard's reason codes stay as the explanation, next to
the features that drove the model's score, and its signals remain a floor under the model's
probability (policy rules, and the cold start of an account with no history, which training
never saw). Without a model, or if the registered one fails its checksum, the scorecard is the
score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connections
from django.db.models import Avg, Count

from fraud.features import DELAY, FEATURES
from ledger.models import JournalEntry

_I_CNT30, _I_MEAN30 = FEATURES.index("c_cnt_30d"), FEATURES.index("c_mean_30d")
MODEL_VERSION = "rules-v1"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Score:
    """``value`` in [0, 1], ``reasons`` the codes that contributed, ``features`` their inputs."""

    value: float
    reasons: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    model_version: str = MODEL_VERSION


def score(entry: JournalEntry) -> Score:
    """Score one charge from history strictly before it (no look-ahead): the registered model
    when there is one, else the rules scorecard (whose reasons explain either).

    The entry always moves the feature store forward (:mod:`fraud.feature_store`, in the
    caller's transaction; scoring it again reuses its stored features), so the store stays
    complete while the model is missing or refused. Same as ``score_many([entry])[0]``."""
    return score_many([entry])[0]


def score_many(entries: Sequence[JournalEntry]) -> list[Score]:
    """:func:`score` of several entries with one feature-store round trip, one merchant-label
    read and one LightGBM call (a worker's batch); results in the order of ``entries``.
    LightGBM's batch and single-row predictions agree, so a batch scores like one by one."""
    from fraud import feature_store, ml

    if not entries:
        return []
    try:
        model = ml.current_model()
    except Exception:  # noqa: BLE001 - e.g. a checksum mismatch: never score with that model
        logger.exception("fraud model not loaded; scoring with the rules scorecard")
        model = None
    X = feature_store.entries_features(entries, delay=model.delay if model else DELAY)
    frauds = _merchant_confirmed_frauds(entries)
    scorecards = [rules_score(e, features=x, merchant_frauds=n)
                  for e, x, n in zip(entries, X, frauds, strict=True)]
    if model is None:
        return scorecards
    P = model.predict(np.asarray(X, dtype=np.float64)).tolist()
    flagged = [i for i, p in enumerate(P) if p >= model.review]
    explained = dict(zip(flagged, ml.explain_many(model, [X[i] for i in flagged]),
                         strict=True))
    out = []
    for i, (p, rules) in enumerate(zip(P, scorecards, strict=True)):
        reasons = list(rules.reasons)
        feats = {**rules.features, "model_score": p}
        if i in explained:
            reasons.insert(0, "model_" + model.decision(p))
            feats.update({f"contrib:{k}": v for k, v in explained[i].items()})
        # The scorecard's signals stay a floor: policy (a large amount, a merchant with
        # confirmed fraud) and the cold start the model never saw in training (no history).
        value = max(p, rules.value) if rules.reasons else p
        out.append(Score(value=value, reasons=reasons, features=feats,
                         model_version=model.version))
    return out


def _label_delay() -> timedelta:
    return timedelta(days=getattr(settings, "FRAUD_LABEL_DELAY_DAYS", 7))


# Confirmed frauds at merchants: fraud_alert (status index) joined to its entry. Parameters:
# status, merchants, decided by, entry occurred since.
_MERCHANT_FRAUDS = ("SELECT je.merchant, je.occurred_at, a.decided_at FROM fraud_alert a "
                    "JOIN ledger_journalentry je ON je.id = a.entry_id "
                    "WHERE a.status = %s AND je.merchant = ANY(%s) AND a.decided_at <= %s "
                    "AND je.occurred_at >= %s")


def _merchant_confirmed_frauds(entries: Sequence[JournalEntry]) -> list[int]:
    """Per entry: the alerts confirmed as fraud at its merchant, decided by its time, on
    entries of the ``label delay + 28`` days before it (one query for all the entries)."""
    from fraud.models import Alert

    with_merchant = [e for e in entries if e.merchant]
    if not with_merchant:
        return [0] * len(entries)
    reach = _label_delay() + timedelta(days=28)
    merchants = sorted({e.merchant for e in with_merchant})
    newest = max(e.occurred_at for e in with_merchant)
    oldest = min(e.occurred_at for e in with_merchant) - reach
    conn = connections[Alert.objects.db]   # the worker's alias in the worker
    if conn.vendor == "postgresql":
        with conn.cursor() as cur:
            cur.execute(_MERCHANT_FRAUDS, [Alert.Status.CONFIRMED_FRAUD.value, merchants,
                                           newest, oldest])
            rows = cur.fetchall()
    else:  # the SQLite demo: the same query through the ORM
        rows = list(Alert.objects.filter(
            status=Alert.Status.CONFIRMED_FRAUD, entry__merchant__in=merchants,
            decided_at__lte=newest, entry__occurred_at__gte=oldest,
        ).values_list("entry__merchant", "entry__occurred_at", "decided_at"))
    return [sum(1 for m, occurred, decided in rows
                if m == e.merchant and decided <= e.occurred_at
                and occurred >= e.occurred_at - reach) if e.merchant else 0
            for e in entries]


def rules_score(entry: JournalEntry, *, features: Sequence[float] | None = None,
                merchant_frauds: int | None = None) -> Score:
    """The rules scorecard: score one charge from history strictly before it.

    ``features``: the entry's feature vector (:data:`fraud.features.FEATURES`) when the caller
    has it; the customer's 30-day count and mean are then read from it (charges and captures
    in the 30 days before the entry) instead of querying the journal (charges only).
    ``merchant_frauds``: :func:`_merchant_confirmed_frauds` of the entry when already read."""
    large = getattr(settings, "FRAUD_LARGE_AMOUNT", 22_000)
    when = entry.occurred_at
    if features is not None:
        n30, m30 = features[_I_CNT30], features[_I_MEAN30]
        hist = {"n": int(n30), "mean": m30 * 100.0 if m30 == m30 else None}  # units -> minor
    else:
        charges = JournalEntry.objects.filter(kind=JournalEntry.Kind.CHARGE).exclude(pk=entry.pk)
        hist = charges.filter(account_id=entry.account_id,
                              occurred_at__gte=when - timedelta(days=30),
                              occurred_at__lt=when).aggregate(n=Count("id"), mean=Avg("amount"))
    mean30 = float(hist["mean"] or 0.0)
    feats = {"amount": float(entry.amount), "customer_nb_tx_30d": float(hist["n"]),
             "customer_mean_30d": mean30}
    candidates: list[tuple[float, str]] = []
    if entry.amount > large:
        candidates.append((0.9, "large_amount"))
    if hist["n"] >= 5 and mean30 > 0:
        ratio = entry.amount / mean30
        feats["amount_ratio_30d"] = ratio
        if ratio >= 3:
            candidates.append((min(0.95, 0.4 + ratio / 20), "amount_above_history"))
    if entry.merchant:
        confirmed = (merchant_frauds if merchant_frauds is not None
                     else _merchant_confirmed_frauds([entry])[0])
        feats["terminal_confirmed_fraud_28d"] = float(confirmed)
        if confirmed:
            candidates.append((0.8, "merchant_confirmed_fraud"))
    if entry.fraud_decision == "review":
        candidates.append((0.6, "preauth_review"))
    if not candidates:
        return Score(value=0.01, reasons=[], features=feats)
    best = max(c[0] for c in candidates)
    return Score(value=best, reasons=[r for _, r in sorted(candidates, reverse=True)],
                 features=feats)
