"""Receivers of ledger signals: they only queue work."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def on_entry_posted(sender: Any, *, entry_id: Any, kind: str, **kwargs: Any) -> None:
    """Queue scoring of a committed charge or capture (sent from ``transaction.on_commit``)."""
    if kind not in ("charge", "capture"):
        return
    from fraud.tasks import score_entry

    try:
        score_entry.delay(str(entry_id))
    except Exception:  # noqa: BLE001 - the charge is committed; a sweep rescoring catches up
        logger.exception("could not queue fraud scoring", extra={"entry_id": str(entry_id)})
