"""Receivers of ledger signals: they only queue work, through the transactional outbox.

Scoring a committed charge or capture is an outbox row written in the charge's own
transaction (``on_entry_recorded``), so it commits with the charge or not at all; after commit
the outbox's nudge publishes that row at once. Were the broker down then, the row stays and
the periodic relay (``creditplatform.webhooks.tasks.outbox_relay_task``) publishes it later:
no committed charge goes unscored. Scoring is idempotent (FraudScore upsert), so a row
published twice is harmless.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings

from creditplatform.webhooks.outbox import message_id_for, outbox_put

logger = logging.getLogger(__name__)

SCORE_TOPIC = "fraud.score_entry"
SCORED_KINDS = ("charge", "capture")


def score_message_id(entry_id: Any) -> uuid.UUID:
    """The outbox message id of the scoring of ``entry_id`` (deterministic)."""
    return message_id_for(SCORE_TOPIC, str(entry_id))


def on_entry_recorded(sender: Any, *, entry_id: Any, kind: str, **kwargs: Any) -> None:
    """Inside the posting transaction: record the scoring task of a charge or capture."""
    if kind not in SCORED_KINDS:
        return
    outbox_put(topic=SCORE_TOPIC, args=[str(entry_id)], message_id=score_message_id(entry_id),
               nudge=settings.FRAUD_SCORING_NUDGE)
