"""Receivers: ledger and fraud facts become outbox rows in the same transaction; metrics move
on commit. They only queue work (DESIGN: signals notify a higher app)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from creditplatform import metrics
from creditplatform.webhooks.events import ENTRY_EVENT_TYPES, FANOUT_TOPIC
from creditplatform.webhooks.outbox import outbox_put

logger = logging.getLogger(__name__)


def _put_event(event_type: str, source: str, object_id: Any, *, using: str | None = None,
               **extra: Any) -> None:
    outbox_put(topic=FANOUT_TOPIC, using=using, kwargs={
        "event_id": str(uuid.uuid4()), "event_type": event_type, "source": source,
        "object_id": str(object_id or ""), **extra})


def _subscribed(client_id: Any, event_type: str) -> bool:
    from creditplatform.webhooks.models import WebhookEndpoint

    if client_id is None:
        return False
    return WebhookEndpoint.objects.filter(
        client_id=client_id, is_active=True, deleted_at__isnull=True,
        event_types__contains=[event_type]).exists()


def _entry_facts(entry: Any) -> dict[str, Any] | None:
    """What :func:`on_entry_recorded` needs of an entry held in memory, without a query, for an
    entry without a card; None otherwise. A card's partner is read back in the transaction: the
    service read the card before it waited for the account's row lock, and the card's partner
    may have changed meanwhile (the fan-out reads it at commit time too)."""
    if entry is None or entry.card_id is not None:
        return None
    return {"fraud_decision": entry.fraud_decision, "card__issued_for_id": None,
            "actor_type": entry.actor_type, "actor_id": entry.actor_id}


def on_entry_recorded(sender: Any, *, entry_id: Any, kind: str, **kwargs: Any) -> None:
    """A posted entry: its webhook event (charge/capture/refund/reversal), when the entry's
    partner has an endpoint subscribed to it, and the charge metrics."""
    from ledger.models import JournalEntry

    event_type = ENTRY_EVENT_TYPES.get(kind)
    if event_type is None and kind != "charge":
        return
    row = _entry_facts(kwargs.get("entry"))
    if row is None:  # sent without the entry, or the entry has a card: read it back
        row = (JournalEntry.objects.filter(pk=entry_id)
               .values("fraud_decision", "card__issued_for_id", "actor_type", "actor_id").first())
    if row is None:
        return
    client_id = row["card__issued_for_id"] or (
        row["actor_id"] if row["actor_type"] == "api_client" else None)
    if event_type is not None and _subscribed(client_id, event_type):
        _put_event(event_type, "entry", entry_id)
    if kind == "charge":
        decision = row["fraud_decision"] or "approve"
        transaction.on_commit(lambda: metrics.charge_outcome("approved", decision))


def on_charge_declined(sender: Any, *, actor: Any, account_id: Any, card_id: Any, amount: Any,
                       currency: Any, code: str, reasons: list[str], **kwargs: Any) -> None:
    """A refused charge: ``charge.declined`` for the card's partner (or the calling partner)."""
    from accounts.models import ApiClient

    client_id = str(actor.pk) if isinstance(actor, ApiClient) else None
    data = {"object": "declined_charge", "account": str(account_id),
            "card": str(card_id) if card_id else None, "amount": amount, "currency": currency,
            "code": code, "reasons": list(reasons)}
    if card_id:
        from accounts.models import Card

        client_id = (Card.objects.filter(pk=card_id).values_list("issued_for_id", flat=True)
                     .first()) or client_id
    if _subscribed(client_id, "charge.declined"):
        _put_event("charge.declined", "declined", card_id, data=data,
                   client_id=str(client_id))
    transaction.on_commit(lambda: metrics.charge_outcome(
        "declined" if code == "card_declined" else code,
        "decline" if code == "card_declined" else None))


def _put_from_anywhere(event_type: str, source: str, object_id: Any) -> None:
    """In the sender's transaction; but inside the fraud worker's least-privilege database
    context (``creditplatform.db_routers``), after its commit through ``default``, unless the
    worker role was granted INSERT on the outbox (then set WEBHOOKS_OUTBOX_IN_WORKER)."""
    from django.conf import settings

    from creditplatform.db_routers import worker_db_alias

    alias = worker_db_alias()
    if alias == "default" or getattr(settings, "WEBHOOKS_OUTBOX_IN_WORKER", False):
        _put_event(event_type, source, object_id)
        return
    transaction.on_commit(lambda: _put_event(event_type, source, object_id, using="default"),
                          using=alias)


def on_alert_opened(sender: Any, *, alert_id: Any, **kwargs: Any) -> None:
    """``alert.opened`` for the partner of the alert's card (``fraud.signals.alert_opened``)."""
    _put_from_anywhere("alert.opened", "alert", alert_id)


def on_card_frozen(sender: Any, *, card_id: Any, **kwargs: Any) -> None:
    """``card.frozen`` for the partner of the card (``fraud.signals.card_frozen``)."""
    _put_from_anywhere("card.frozen", "card", card_id)


def on_fraud_score_saved(sender: Any, *, instance: Any, created: bool, **kwargs: Any) -> None:
    """Metrics of the post-commit scorer: decision and commit-to-score lag."""
    if not created:
        return
    from django.conf import settings

    # no query: the scorer may run as a role that reads only what scoring needs
    entry = instance._state.fields_cache.get("entry")
    committed = entry.__dict__.get("created_at") if entry is not None else None
    alert = instance.score >= settings.FRAUD_ALERT_THRESHOLD
    lag = (instance.scored_at - committed).total_seconds() if committed else None
    metrics.score_recorded("alert" if alert else "pass", lag)


def connect() -> None:
    """Connect every receiver (called from ``WebhooksConfig.ready``)."""
    from ledger.signals import charge_declined, entry_recorded

    entry_recorded.connect(on_entry_recorded, dispatch_uid="webhooks.on_entry_recorded")
    charge_declined.connect(on_charge_declined, dispatch_uid="webhooks.on_charge_declined")
    try:
        from fraud.models import FraudScore

        post_save.connect(on_fraud_score_saved, sender=FraudScore,
                          dispatch_uid="webhooks.on_fraud_score_saved")
    except ImportError:  # pragma: no cover - fraud is installed
        pass
    try:  # added by the fraud flow work; connect when present
        from fraud import signals as fraud_signals
    except ImportError:
        return
    if hasattr(fraud_signals, "alert_opened"):
        fraud_signals.alert_opened.connect(on_alert_opened, dispatch_uid="webhooks.alert_opened")
    if hasattr(fraud_signals, "card_frozen"):
        fraud_signals.card_frozen.connect(on_card_frozen, dispatch_uid="webhooks.card_frozen")
