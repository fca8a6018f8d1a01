"""Post-commit fraud scoring.

``RULES_V1`` is an interpretable scorecard over the handbook's standard features (Le Borgne et
al., *Reproducible Machine Learning for Credit Card Fraud Detection*, ch. 3: customer spending
over 1/7/30 days, terminal risk with label delay). Each signal maps to a score in [0, 1] and a
reason code; the entry's score is the largest.

When a model is registered (``fraud/artifacts``, see :mod:`fraud.ml`), :func:`score` returns its
probability, computed from :class:`fraud.features.FeatureState` fed from the database
(:func:`fraud.ml.live_features`). The scorecard's reason codes stay as the explanation, next to
the features that drove the model's score, and its signals remain a floor under the model's
probability (policy rules, and the cold start of an account with no history, which training
never saw). Without a model, or if the registered one fails its checksum, the scorecard is the
score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count

from ledger.models import JournalEntry

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
    when there is one, else the rules scorecard (whose reasons explain either)."""
    rules = rules_score(entry)
    from fraud import ml

    try:
        model = ml.current_model()
    except Exception:  # noqa: BLE001 - e.g. a checksum mismatch: never score with that model
        logger.exception("fraud model not loaded; scoring with the rules scorecard")
        return rules
    if model is None:
        return rules
    x = ml.live_features(entry, delay=model.delay)
    p = model.predict_one(x)
    reasons = list(rules.reasons)
    feats = {**rules.features, "model_score": p}
    if p >= model.review:
        reasons.insert(0, "model_" + model.decision(p))
        feats.update({f"contrib:{k}": v for k, v in ml.explain(model, x).items()})
    # The scorecard's signals stay a floor: policy (a large amount, a merchant with confirmed
    # fraud) and the cold start the model never saw in training (no history at all).
    value = max(p, rules.value) if rules.reasons else p
    return Score(value=value, reasons=reasons, features=feats, model_version=model.version)


def rules_score(entry: JournalEntry) -> Score:
    """The rules scorecard: score one charge from history strictly before it."""
    large = getattr(settings, "FRAUD_LARGE_AMOUNT", 22_000)
    label_delay = timedelta(days=getattr(settings, "FRAUD_LABEL_DELAY_DAYS", 7))
    when = entry.occurred_at
    charges = JournalEntry.objects.filter(kind=JournalEntry.Kind.CHARGE).exclude(pk=entry.pk)
    hist = charges.filter(account_id=entry.account_id, occurred_at__gte=when - timedelta(days=30),
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
        from fraud.models import Alert

        confirmed = Alert.objects.filter(
            entry__merchant=entry.merchant, status=Alert.Status.CONFIRMED_FRAUD,
            decided_at__lte=when, entry__occurred_at__gte=when - label_delay - timedelta(days=28),
        ).count()
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
