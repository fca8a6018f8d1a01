"""Disputes and "Was this you?" in the portal, on the fraud app's own services and selectors:
a dispute is an :class:`fraud.models.Alert` in the same support queue as the scorer's alerts
(``fraud.services.dispute_open``), and the cardholder's answer becomes a fraud label
(``fraud.services.alert_cardholder_confirm``). This module only adapts them to the pages.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from fraud import selectors as fraud_selectors
from fraud import services as fraud_services
from fraud.models import Alert
from ledger.models import JournalEntry


def can_dispute(entry: JournalEntry) -> bool:
    """A charge or capture can be disputed (``fraud.selectors.DISPUTABLE_KINDS``)."""
    return entry.kind in fraud_selectors.DISPUTABLE_KINDS


def open_dispute(*, actor: Any, entry: JournalEntry, reason: str) -> Alert:
    """Open (or find) the case for ``entry`` -> the fraud Alert.

    Raises:
        NotFoundError: not ``actor``'s charge; ValidationError: as ``dispute_open``.
    """
    return fraud_services.dispute_open(actor=actor, entry_id=entry.pk, reason=reason[:500])


def case_for_entry(*, actor: Any, entry: JournalEntry) -> Alert | None:
    """The cardholder's case (Alert) on ``entry``, or None."""
    return fraud_selectors.alert_list_for_cardholder(actor=actor).filter(entry=entry).first()


def can_answer(case: Alert | None) -> bool:
    """A scorer's alert, not answered yet and not decided by support: ask "Was this you?"."""
    return (case is not None and case.source == Alert.Source.MODEL
            and not case.cardholder_answer and case.status not in Alert.CLOSED)


def pending_prompts(*, actor: Any, limit: int = 20) -> list[Alert]:
    """Flagged transactions the cardholder has not answered yet ("Was this you?")."""
    cases = fraud_selectors.alert_list_for_cardholder(actor=actor)
    unanswered = Q(cardholder_answer="") | Q(cardholder_answer__isnull=True)
    return list(cases.filter(unanswered, source=Alert.Source.MODEL)
                .exclude(status__in=Alert.CLOSED)[:limit])


def cases_for(*, actor: Any, limit: int = 10) -> list[Alert]:
    """The cardholder's own disputes and the alerts they answered, newest first (their
    status is what support decided so far)."""
    cases = fraud_selectors.alert_list_for_cardholder(actor=actor)
    mine = Q(source=Alert.Source.DISPUTE) | Q(disputed_at__isnull=False) | (
        ~Q(cardholder_answer="") & Q(cardholder_answer__isnull=False))
    return list(cases.filter(mine)[:limit])


def notifications_for(*, actor: Any, limit: int = 5) -> list[Any]:
    """The cardholder's newest fraud notifications ("we froze your card", ...)."""
    return list(fraud_selectors.notification_list_for_cardholder(actor=actor)[:limit])


def answer_prompt(*, actor: Any, alert_id: object, was_me: bool) -> Alert:
    """Record the cardholder's answer to "Was this you?" (a label for fraud scoring).

    Raises:
        NotFoundError: not ``actor``'s alert; ValidationError (``already_answered``).
    """
    return fraud_services.alert_cardholder_confirm(actor=actor, alert_id=alert_id,
                                                   was_me=was_me)
