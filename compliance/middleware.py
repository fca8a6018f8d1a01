"""Access refusals as security events (PCI DSS v4.0 10.2.1.4 "invalid logical access attempts").

:class:`AccessRefusalAuditMiddleware` records, after the response is built (outside any
transaction of the view, so the event commits even when the view's transaction rolled back):

* ``access.denied`` (outcome ``denied``): any 403 answer, from the API (partner scope, DRF
  permission) or the admin (a staff member without the model permission);
* ``access.foreign_object`` (outcome ``denied``): a 404 from the API to an authenticated
  principal when an id in the URL names an object that exists: the access policy
  (``accounts.permissions``) answers "not found" for someone else's object (BOLA), and the
  attempt is recorded with the object's type and id. The check runs only on 404 answers, one
  primary-key look-up per owned model (``accounts.permissions.OWNER_PATHS``) and URL id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.apps import apps
from django.http import HttpRequest, HttpResponse

from compliance import audit


def _principal(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user if hasattr(user, "audit_principal") else None


def _url_ids(kwargs: dict[str, Any]) -> list[tuple[str, UUID]]:
    found = []
    for name, value in kwargs.items():
        try:
            found.append((name, value if isinstance(value, UUID) else UUID(str(value))))
        except (TypeError, ValueError, AttributeError):
            continue
    return found


def foreign_object(kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """``(model label, id)`` of the first URL id naming an existing owned object, else None."""
    from accounts.permissions import OWNER_PATHS

    for _, pk in _url_ids(kwargs):
        for label in OWNER_PATHS:
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            if model._meta.pk.get_internal_type() != "UUIDField":
                continue
            if model._default_manager.filter(pk=pk).exists():
                return label, str(pk)
    return None


class AccessRefusalAuditMiddleware:
    """Records 403s and someone-else's-object 404s as security events (see the module doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        status = response.status_code
        if status == 403:
            match = getattr(request, "resolver_match", None)
            audit.record("access.denied", actor=_principal(request), outcome="denied",
                         object_type="route", object_id=(match.route if match else "")[:64],
                         details={"method": request.method, "path": request.path[:200],
                                  "status": status})
        elif status == 404 and request.path.startswith("/api/"):
            actor = _principal(request)
            match = getattr(request, "resolver_match", None)
            if actor is not None and match is not None and match.kwargs:
                hit = foreign_object(match.kwargs)
                if hit is not None:
                    audit.record("access.foreign_object", actor=actor, outcome="denied",
                                 object_type=hit[0], object_id=hit[1],
                                 details={"method": request.method,
                                          "path": request.path[:200], "status": status})
        return response
