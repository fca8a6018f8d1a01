"""From a business fact (entry, declined charge, alert, card) to a partner's webhook event.

Runs in the fan-out task, after the fact committed, as the application: it reads what the
event says and finds the partner it belongs to: the partner the card token was issued for,
else the partner that made the request.
"""

from __future__ import annotations

from typing import Any

from creditplatform.webhooks import services


def _entry_event(entry_id: str) -> tuple[Any, dict[str, Any]] | None:
    from ledger.models import JournalEntry

    entry = (JournalEntry.objects.select_related("card").filter(pk=entry_id).first())
    if entry is None:
        return None
    client_id = entry.card.issued_for_id if entry.card_id else None
    if client_id is None and entry.actor_type == "api_client":
        client_id = entry.actor_id
    data = {"id": str(entry.pk), "object": "transaction", "kind": entry.kind,
            "account": str(entry.account_id), "card": str(entry.card_id or "") or None,
            "amount": entry.amount, "currency": entry.currency, "merchant": entry.merchant,
            "occurred_at": entry.occurred_at.isoformat(),
            "fraud": {"decision": entry.fraud_decision, "reasons": entry.fraud_reasons}}
    if entry.original_id:
        data["original"] = str(entry.original_id)
    if entry.reverses_id:
        data["reverses"] = str(entry.reverses_id)
    return client_id, data


def _card_client(card_id: Any) -> Any:
    from accounts.models import Card

    return Card.objects.filter(pk=card_id).values_list("issued_for_id", flat=True).first()


def _alert_event(alert_id: str) -> tuple[Any, dict[str, Any]] | None:
    from fraud.models import Alert

    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        return None
    client_id = _card_client(alert.card_id) if alert.card_id else None
    data = {"id": str(alert.pk), "object": "alert", "status": alert.status,
            "account": str(alert.account_id), "card": str(alert.card_id or "") or None,
            "transaction": str(alert.entry_id) if getattr(alert, "entry_id", None) else None,
            "score": getattr(alert, "score", None), "reasons": list(alert.reasons or [])}
    return client_id, data


def _card_event(card_id: str) -> tuple[Any, dict[str, Any]] | None:
    from accounts.models import Card

    card = Card.objects.filter(pk=card_id).first()
    if card is None:
        return None
    return card.issued_for_id, {"id": str(card.pk), "object": "card", "status": card.status,
                                "account": str(card.account_id)}


def fanout(*, event_id: str, event_type: str, source: str, object_id: str,
           data: dict[str, Any] | None = None, client_id: str | None = None) -> int:
    """Publish one event; returns how many deliveries were created (0: no partner or no
    subscribed endpoint, or published already)."""
    if source == "entry":
        found = _entry_event(object_id)
    elif source == "alert":
        found = _alert_event(object_id)
    elif source == "card":
        found = _card_event(object_id)
    else:  # "declined": the data travelled in the outbox row (nothing was committed)
        card_client = _card_client(object_id) if object_id else None
        found = (card_client or client_id, data or {})
    if found is None or found[0] is None:
        return 0
    partner, payload = found
    return len(services.event_publish(event_id=event_id, event_type=event_type,
                                      client_id=partner, data=payload))
