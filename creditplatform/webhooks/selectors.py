"""Reads of webhook endpoints with object access: a partner sees only its own endpoints;
someone else's endpoint is the same 404 as a missing one."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from creditplatform.webhooks.exceptions import NotFoundError
from creditplatform.webhooks.models import WebhookEndpoint


def endpoint_list_for(*, actor: Any) -> QuerySet[WebhookEndpoint]:
    """The live (not deleted) endpoints of the partner ``actor``; none for anyone else."""
    from accounts.models import ApiClient

    if not isinstance(actor, ApiClient) or not actor.is_active:
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.filter(client=actor, deleted_at__isnull=True)


def endpoint_get_for(*, actor: Any, endpoint_id: object,
                     for_update: bool = False) -> WebhookEndpoint:
    """One live endpoint of ``actor``.

    Raises:
        NotFoundError: missing, deleted, malformed id or another partner's endpoint.
    """
    try:
        pk = uuid.UUID(str(endpoint_id))
    except ValueError as exc:
        raise NotFoundError("No such webhook endpoint.") from exc
    qs = endpoint_list_for(actor=actor)
    if for_update:
        qs = qs.select_for_update()
    endpoint = qs.filter(pk=pk).first()
    if endpoint is None:
        raise NotFoundError("No such webhook endpoint.")
    return endpoint
