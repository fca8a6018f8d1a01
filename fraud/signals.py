"""Signals the fraud app sends to higher apps (e.g. webhooks). Sent only after commit.

Receivers get ids, never model instances, and should only queue work (DESIGN.md)::

    alert_opened(sender=Alert, alert_id=<uuid>, source="model" | "dispute")
    card_frozen(sender=Card, card_id=<uuid>, alert_id=<uuid>)
"""

from __future__ import annotations

from django.dispatch import Signal

#: An alert (a fraud case in the support queue) was opened; kwargs ``alert_id``, ``source``.
alert_opened = Signal()
#: The scorer froze a card above the freeze threshold; kwargs ``card_id``, ``alert_id``.
card_frozen = Signal()
