"""The one object-access policy. API views, selectors and the admin all ask it.

Rule: a person reaches through the API only objects they own; someone else's object is
indistinguishable from a missing one (404), so ids cannot be probed (OWASP API1:2023 BOLA).
In the admin, staff see rows by their Django model permissions (least privilege per role).
System actors (management commands, tasks) act on behalf of the platform and see everything.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiClient, Card
from compliance.audit import SystemActor

# Path from each owned model to its owning user, for queryset filtering.
OWNER_PATHS: dict[str, str] = {
    "accounts.creditaccount": "owner",
    "accounts.card": "account__owner",
    "ledger.journalentry": "account__owner",
    "ledger.hold": "account__owner",
    "fraud.alert": "account__owner",
}


# Operations beyond ownership that a partner scope can grant (services check it too, not only
# the view, so a task or command calling a service with a partner stays inside the scope).
PARTNER_SCOPE_FOR_PERMISSION: dict[str, str] = {
    "ledger.refund_journalentry": "refunds:write",
}

# Path from each model a partner may reach to the card token issued for it.
PARTNER_CARD_PATHS: dict[str, str] = {
    "accounts.card": "pk",
    "ledger.journalentry": "card",
    "ledger.hold": "card",
}


def owner_path(model: type[Model]) -> str:
    """The lookup from ``model`` to its owning user; KeyError for a model without an owner."""
    return OWNER_PATHS[model._meta.label_lower]


def scope_for_api(actor: Any, queryset: QuerySet, *, permission: str | None = None) -> QuerySet:
    """Filter ``queryset`` to what ``actor`` may reach through the API.

    Without ``permission``: the actor's own objects. With ``permission`` (an operation beyond
    ownership, e.g. ``ledger.refund_journalentry``): every object for an actor holding that
    model permission, none for anyone else. Returns ``queryset.none()`` for anonymous or
    inactive actors. Never raises for someone else's object: the caller's ``get`` then answers
    not found.
    """
    if isinstance(actor, SystemActor):
        return queryset
    if isinstance(actor, ApiClient):
        if permission is not None and not actor.has_scope(
            PARTNER_SCOPE_FOR_PERMISSION.get(permission, "")
        ):
            return queryset.none()  # e.g. reversals: no partner scope grants them
        return _scope_for_partner(actor, queryset)
    if actor is None or not getattr(actor, "is_authenticated", False):
        return queryset.none()
    if not getattr(actor, "is_active", False):
        return queryset.none()
    if permission is not None:
        return queryset if actor.has_perm(permission) else queryset.none()
    return queryset.filter(**{owner_path(queryset.model): actor})


def _scope_for_partner(client: ApiClient, queryset: QuerySet) -> QuerySet:
    """A partner reaches only card tokens issued for it, their accounts, entries and holds."""
    if not client.is_active:
        return queryset.none()
    cards = Card.objects.filter(issued_for=client)
    label = queryset.model._meta.label_lower
    if label == "accounts.creditaccount":
        return queryset.filter(pk__in=cards.values("account_id"))
    path = PARTNER_CARD_PATHS.get(label)
    if path is None:
        return queryset.none()
    return queryset.filter(**{f"{path}__in": cards.values("pk")})


class PartnerScopes(BasePermission):
    """Partner API clients need the view's scope for the method (``view.partner_scopes``,
    e.g. ``{"POST": "charges:write"}``); a view without one is closed to partners (403).
    People are not affected: their access is ownership (:func:`scope_for_api`).
    """

    message = "This API key lacks the scope for this operation."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.user, ApiClient):
            return True
        scope = getattr(view, "partner_scopes", {}).get(request.method)
        return scope is not None and request.user.has_scope(scope)


def scope_for_admin(user: Any, queryset: QuerySet) -> QuerySet:
    """Filter an admin changelist: rows are visible with the model's view or change permission."""
    if not getattr(user, "is_active", False) or not getattr(user, "is_staff", False):
        return queryset.none()
    opts = queryset.model._meta
    if user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    ):
        return queryset
    return queryset.none()
