"""Reads of accounts and cards, always through the access policy."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from accounts.models import Card, CreditAccount
from accounts.permissions import scope_for_api
from creditplatform.errors import NotFoundError


def parse_uuid(value: object) -> UUID | None:
    """``value`` as a UUID, or None when it is not one (ids from URLs and bodies)."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def account_list_for(*, actor: Any) -> QuerySet[CreditAccount]:
    """The credit accounts ``actor`` may see, oldest first."""
    return scope_for_api(actor, CreditAccount.objects.all()).order_by("created_at", "id")


def account_get_for(*, actor: Any, account_id: object, for_update: bool = False) -> CreditAccount:
    """One credit account of ``actor``; with ``for_update`` its row is locked (SELECT FOR UPDATE).

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s (the same answer).
    """
    pk = parse_uuid(account_id)
    if pk is None:
        raise NotFoundError("No such credit account.")
    qs = scope_for_api(actor, CreditAccount.objects.all())
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=pk)
    except CreditAccount.DoesNotExist:
        raise NotFoundError("No such credit account.") from None


def card_list_for(*, actor: Any) -> QuerySet[Card]:
    """The cards ``actor`` may see, oldest first."""
    return scope_for_api(actor, Card.objects.all()).order_by("created_at", "id")


def card_get_for(*, actor: Any, card_id: object) -> Card:
    """One card of ``actor``.

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s.
    """
    pk = parse_uuid(card_id)
    if pk is None:
        raise NotFoundError("No such card.")
    try:
        return scope_for_api(actor, Card.objects.all()).get(pk=pk)
    except Card.DoesNotExist:
        raise NotFoundError("No such card.") from None
