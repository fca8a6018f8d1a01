"""API v1: the router that composes every app's endpoints, and the one error format.

Every error is RFC 9457 ``application/problem+json``::

    {"type": "/problems/<code>", "title": ..., "status": 4xx, "detail": ..., "code": "<code>", ...}

``code`` is stable; clients switch on it, never on ``detail``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.urls import include, path
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from creditplatform.errors import ApplicationError, problem

PROBLEM_CONTENT_TYPE = "application/problem+json"

_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf_exceptions.ValidationError, "validation_error"),
    (drf_exceptions.ParseError, "malformed_request"),
    (drf_exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (drf_exceptions.NotAuthenticated, "not_authenticated"),
    (drf_exceptions.AuthenticationFailed, "authentication_failed"),
    (drf_exceptions.PermissionDenied, "permission_denied"),
    (drf_exceptions.NotFound, "not_found"),
    (drf_exceptions.MethodNotAllowed, "method_not_allowed"),
    (drf_exceptions.NotAcceptable, "not_acceptable"),
    (drf_exceptions.Throttled, "throttled"),
]


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A DRF response carrying a problem document with the problem+json media type."""
    response = Response(body, status=body["status"], headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every handled error becomes problem+json with a stable code.

    Unhandled exceptions return ``None`` (DRF re-raises them): a 5xx is a bug to fix, and the
    idempotency layer stores nothing for it, so a retry runs once.
    """
    if isinstance(exc, ApplicationError):
        retry = exc.extra.get("retry_after")
        return problem_response(
            problem(exc.status, exc.code, exc.title, exc.message, **exc.extra),
            headers={"Retry-After": str(retry)} if retry is not None else None,
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None or not isinstance(exc, drf_exceptions.APIException):
        return response
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    if isinstance(exc, drf_exceptions.AuthenticationFailed) and isinstance(exc.detail, dict):
        detail_code = exc.detail.get("code")
        if detail_code:
            code = str(detail_code)
    extra: dict[str, Any] = {}
    if isinstance(exc, drf_exceptions.ValidationError):
        extra["errors"] = exc.detail
        detail = "The request body has invalid fields; see errors."
    elif isinstance(exc.detail, dict):
        detail = str(exc.detail.get("detail", exc.default_detail))
    else:
        detail = str(exc.detail)
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait)
    title = code.replace("_", " ").capitalize()
    body = problem(response.status_code, code, title, detail, **extra)
    passed = ("WWW-Authenticate", "Retry-After", "Allow")
    headers = {k: v for k, v in response.items() if k in passed}
    return problem_response(body, headers=headers)


urlpatterns = [
    path("auth/", include("accounts.api.auth_urls")),
    path("", include("accounts.api.urls")),
    path("", include("ledger.api.urls")),
    path("", include("creditplatform.webhooks.api.urls")),
]


def api_not_found(request: Any, exception: Exception | None = None) -> Any:
    """``handler404``: problem+json under ``/api/``, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(problem(404, "not_found", "Not found", "No such resource."),
                            status=404, content_type=PROBLEM_CONTENT_TYPE)
    return page_not_found(request, exception)


def api_server_error(request: Any) -> Any:
    """``handler500``: problem+json under ``/api/`` (no detail leaks), Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import server_error

    if request.path.startswith("/api/"):
        return JsonResponse(problem(500, "server_error", "Server error",
                                    "The request failed; retry with the same Idempotency-Key."),
                            status=500, content_type=PROBLEM_CONTENT_TYPE)
    return server_error(request)
