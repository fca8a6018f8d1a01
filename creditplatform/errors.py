"""The one application error type. Each app's ``exceptions.py`` subclasses it.

Rendered by :func:`creditplatform.api.problem_exception_handler` as RFC 9457
``application/problem+json`` with a stable machine-readable ``code``.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter


class ApplicationError(Exception):
    """A refusal the client can act on (4xx); never a server fault.

    Attributes:
        message: human readable detail (never contains a PAN, token or secret).
        code: stable snake_case code clients switch on, e.g. ``insufficient_credit``.
        status: HTTP status to answer with (4xx).
        extra: JSON-serialisable members added to the problem document.
    """

    status: int = 400
    code: str = "application_error"
    title: str = "Request refused"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.title
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    """The object does not exist or the principal may not see it (the same answer, no BOLA)."""

    status = 404
    code = "not_found"
    title = "Not found"


class ValidationError(ApplicationError):
    """Input that is well-formed JSON but not acceptable."""

    status = 400
    code = "validation_error"
    title = "Invalid input"


class ServiceUnavailableError(ApplicationError):
    """A dependency needed to answer safely is down; retry later with the same key."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """Build an RFC 9457 problem document (a dict ready for JSON)."""
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Django's error reports (debug page, admin e-mails) hide key material too: the default
    pattern misses names such as ``FIELD_KEK`` and ``*_URL`` with credentials."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|KEK|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|CREDENTIAL|AUTHORIZATION",
        flags=re.I)
