"""Reads of the fraud app shared by the portal, the admin and the services.

Cardholder reads go through the one access policy (:func:`accounts.permissions.scope_for_api`):
someone else's alert is indistinguishable from a missing one (404).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import scope_for_api
from accounts.selectors import parse_uuid
from creditplatform.errors import NotFoundError
from fraud.models import Alert, CardholderNotification
from ledger.models import JournalEntry

#: Journal entry kinds a cardholder can dispute or be asked about (money going out on a card).
DISPUTABLE_KINDS = (JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE)


def _cardholder(actor: Any) -> bool:
    """Only people act as cardholders here (partner API keys never see alerts)."""
    return isinstance(actor, User) and actor.is_authenticated and actor.is_active


def alert_list_for_cardholder(*, actor: Any) -> QuerySet[Alert]:
    """The cardholder's cases, newest first: charges flagged by the scorer and their own
    disputes, each with ``status``, ``source``, ``cardholder_answer`` and the entry
    (``select_related("entry", "card")``: amount in minor units, currency, merchant, masked
    card). Empty for anyone but an active person.
    """
    if not _cardholder(actor):
        return Alert.objects.none()
    return (scope_for_api(actor, Alert.objects.all())
            .select_related("entry", "card").order_by("-created_at", "-id"))


def alert_get_for_cardholder(*, actor: Any, alert_id: object, for_update: bool = False) -> Alert:
    """One of the cardholder's alerts (locked with ``for_update``).

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s (the same answer).
    """
    pk = parse_uuid(alert_id)
    if pk is None or not _cardholder(actor):
        raise NotFoundError("No such case.")
    qs = scope_for_api(actor, Alert.objects.all())
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.select_related("entry").get(pk=pk)
    except Alert.DoesNotExist:
        raise NotFoundError("No such case.") from None


def entry_get_for_dispute(*, actor: Any, entry_id: object) -> JournalEntry:
    """One of the cardholder's own charges or captures (what can be disputed).

    Raises:
        NotFoundError: missing, malformed id, another kind, or not ``actor``'s.
    """
    pk = parse_uuid(entry_id)
    if pk is None or not _cardholder(actor):
        raise NotFoundError("No such transaction.")
    try:
        return scope_for_api(actor, JournalEntry.objects.all()).get(pk=pk,
                                                                     kind__in=DISPUTABLE_KINDS)
    except JournalEntry.DoesNotExist:
        raise NotFoundError("No such transaction.") from None


def notification_list_for_cardholder(*, actor: Any) -> QuerySet[CardholderNotification]:
    """The cardholder's fraud notifications ("we froze your card", "was this you?"), newest
    first."""
    if not _cardholder(actor):
        return CardholderNotification.objects.none()
    return CardholderNotification.objects.filter(account__owner=actor).select_related(
        "alert", "card").order_by("-created_at")


def alert_queue() -> QuerySet[Alert]:
    """The support queue: undecided alerts (open, escalated) by risk, then age (oldest first).
    Staff access is checked by the admin (:func:`accounts.permissions.scope_for_admin`)."""
    return (Alert.objects.exclude(status__in=Alert.CLOSED)
            .select_related("entry", "card", "account__owner").order_by("-score", "created_at"))


def recent_activity(*, alert: Alert, limit: int = 20) -> QuerySet[JournalEntry]:
    """The alert account's latest journal entries around the alert (for the reviewer), newest
    first; the alert's own entry included."""
    return (JournalEntry.objects.filter(account_id=alert.account_id)
            .select_related("card", "fraud_score").order_by("-occurred_at", "-id")[:limit])


def score_drivers(entry: JournalEntry, fraud_score: Any = None, top: int = 8) -> dict[str, Any]:
    """The features that drove an entry's model score, for the reviewer.

    Returns ``{"source": "model" | "stored" | None, "model_version": str | None,
    "rows": [{"feature", "value" (None when not known), "contribution"}]}``, largest absolute
    contribution first. Contributions are LightGBM ``pred_contrib=True`` values (SHAP, in
    log-odds; positive pushes towards fraud), computed now by the registered model from the
    entry's history as of its time (:func:`fraud.ml.live_features`, no look-ahead), or, when the
    model cannot be loaded, the top contributions stored with the score (``contrib:<name>``).
    """
    from fraud import ml
    from fraud.features import FEATURES

    try:
        model = ml.current_model()
        if model is not None:
            x = ml.live_features(entry, delay=model.delay)
            contrib = ml.explain(model, x, top=top)
            return {"source": "model", "model_version": model.version,
                    "rows": [{"feature": f, "value": round(float(x[FEATURES.index(f)]), 4),
                              "contribution": c} for f, c in contrib.items()]}
    except Exception:  # noqa: BLE001 - the case page must render even without the model
        import logging

        logging.getLogger(__name__).exception("score drivers: model unavailable")
    stored = (getattr(fraud_score, "features", None) or {}) if fraud_score else {}
    rows = [{"feature": k.removeprefix("contrib:"), "value": None, "contribution": v}
            for k, v in stored.items() if k.startswith("contrib:")]
    rows.sort(key=lambda r: -abs(r["contribution"]))
    return {"source": "stored" if rows else None,
            "model_version": getattr(fraud_score, "model_version", None), "rows": rows[:top]}


def model_card() -> dict[str, Any]:
    """What the admin's model card shows, from the registry metadata of the model live scoring
    uses (``settings.FRAUD_MODEL_VERSION`` or the latest; :mod:`creditplatform.model_registry`).

    Returns ``{"available": False, "reason": str}`` without a model, else ``available``,
    ``name``, ``version``, ``checksum`` (sha256 of model.txt from meta), ``checksum_ok`` (the
    file's sha256 recomputed now equals it), ``enabled`` (settings.FRAUD_MODEL_ENABLED),
    ``created_at``, ``features`` (list), ``importance`` (top 10 by gain share), ``split``
    (train / delay / validation date ranges), ``train_rows``, ``train_frauds``, ``test_rows``,
    ``test_frauds``, ``label_delay_days``, ``metrics`` (rows of name, value, handbook
    reference), ``thresholds``, ``pr_curve`` (``{"precision": [...], "recall": [...],
    "source": str}`` or None), ``data_file``, ``data_sha256``.
    """
    from django.conf import settings

    from creditplatform import model_registry
    from fraud import ml

    root = ml.registry_root()
    try:
        path, meta = model_registry.load_meta(
            root=root, name=ml.MODEL_NAME, version=getattr(settings, "FRAUD_MODEL_VERSION", None))
    except model_registry.RegistryError as exc:
        return {"available": False, "reason": str(exc)}
    try:
        checksum_ok = model_registry.sha256_file(path / model_registry.MODEL_FILE) == meta.get(
            "model_sha256")
    except OSError:
        checksum_ok = False
    met = meta.get("metrics_test") or {}
    ref = meta.get("handbook_reference") or ml.HANDBOOK_REFERENCE
    names = [("auc_roc", "AUC ROC"), ("average_precision", "Average precision"),
             ("card_precision@100", "Card Precision@100")]
    return {
        "available": True, "name": meta.get("name"), "version": meta.get("version"),
        "checksum": meta.get("model_sha256"), "checksum_ok": checksum_ok,
        "enabled": bool(getattr(settings, "FRAUD_MODEL_ENABLED", True)),
        "created_at": meta.get("created_at"), "model_format": meta.get("model_format"),
        "features": list(meta.get("features") or []),
        "importance": list(meta.get("feature_importance") or [])[:10],
        "split": meta.get("split") or {}, "label_delay_days": meta.get("label_delay_days"),
        "train_rows": meta.get("train_rows"), "train_frauds": meta.get("train_frauds"),
        "test_rows": meta.get("test_rows"), "test_frauds": meta.get("test_frauds"),
        "metrics": [{"key": k, "name": n, "value": met.get(k), "reference": ref.get(k)}
                    for k, n in names],
        "cp_ceiling": met.get("card_precision@100_ceiling"),
        "thresholds": meta.get("thresholds") or {},
        "pr_curve": meta.get("pr_curve"),
        "data_file": meta.get("data_file"), "data_sha256": meta.get("data_sha256"),
        "references": meta.get("references") or [],
    }
