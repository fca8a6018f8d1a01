"""Reads of credit applications, through the same rule as ``accounts.permissions``.

A person reaches only their own applications through the API; anyone else's is the same 404
as a missing one. Partners reach none. System actors (commands) see all.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.credit.models import CreditApplication
from accounts.models import ApiClient
from accounts.selectors import parse_uuid
from compliance.audit import SystemActor
from creditplatform.errors import NotFoundError


def credit_application_list_for(*, actor: Any) -> QuerySet[CreditApplication]:
    """The applications ``actor`` made, newest first (none for partners and anonymous)."""
    qs = CreditApplication.objects.prefetch_related("decisions")
    if isinstance(actor, SystemActor):
        return qs.order_by("-created_at", "id")
    if isinstance(actor, ApiClient) or not getattr(actor, "is_authenticated", False) \
            or not getattr(actor, "is_active", False):
        return qs.none()
    return qs.filter(applicant=actor).order_by("-created_at", "id")


def credit_application_get_for(*, actor: Any, application_id: object) -> CreditApplication:
    """One application of ``actor``.

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s (the same answer).
    """
    pk = parse_uuid(application_id)
    if pk is None:
        raise NotFoundError("No such credit application.")
    try:
        return credit_application_list_for(actor=actor).get(pk=pk)
    except CreditApplication.DoesNotExist:
        raise NotFoundError("No such credit application.") from None
