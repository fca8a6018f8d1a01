"""Middleware: request id and source of every request, for audit records and logs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from creditplatform import context
from creditplatform.logging import redact_text

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Binds a :class:`~creditplatform.context.RequestContext` for the request's duration.

    The request id is the caller's ``X-Request-ID`` when it is 1-64 safe characters, otherwise
    a new uuid4; it is echoed in the ``X-Request-ID`` response header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        # the caller's id only when it is safe to store and echo (no card number in it)
        safe = _REQUEST_ID.match(supplied) and redact_text(supplied) == supplied
        request_id = supplied if safe else uuid.uuid4().hex
        ctx = context.RequestContext(
            request_id=request_id,
            source_ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", "")[:512],
        )
        token = context.bind(ctx)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response
