"""Event types partners can subscribe to, and how each becomes an outbox row.

Sources (all written in the business transaction, see ``receivers.py``):

==================  ============================================================
``charge.approved`` a charge posted (``ledger.signals.entry_recorded``, kind charge)
``charge.captured`` an authorization captured (kind capture)
``charge.declined`` a charge refused (``ledger.signals.charge_declined``)
``charge.reversed`` an entry reversed (kind reversal)
``refund.created``  a refund posted (kind refund)
``alert.opened``    the fraud scorer opened an alert (``fraud.signals.alert_opened``)
``card.frozen``     a card was frozen (``fraud.signals.card_frozen``)
==================  ============================================================
"""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "charge.approved", "charge.captured", "charge.declined", "charge.reversed",
    "refund.created", "alert.opened", "card.frozen",
)

#: journal entry kind -> event type
ENTRY_EVENT_TYPES: dict[str, str] = {
    "charge": "charge.approved",
    "capture": "charge.captured",
    "refund": "refund.created",
    "reversal": "charge.reversed",
}

FANOUT_TOPIC = "webhooks.event"
