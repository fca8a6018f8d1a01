"""Per-request context (request id, source IP, user agent) kept in a ContextVar.

Set by :class:`creditplatform.middleware.RequestContextMiddleware`; read by audit records and
log lines. Imports no app, so every app can use it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from: ``request_id`` (uuid4 hex or the caller's X-Request-ID)."""

    request_id: str = ""
    source_ip: str | None = None
    user_agent: str = ""


_EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(  # noqa: B039 (frozen)
    "request_context", default=_EMPTY
)


def current() -> RequestContext:
    """The context of the request being served (an empty one outside a request)."""
    return _current.get()


def bind(ctx: RequestContext) -> contextvars.Token[RequestContext]:
    """Make ``ctx`` current; returns the token for :func:`reset`."""
    return _current.set(ctx)


def reset(token: contextvars.Token[RequestContext]) -> None:
    """Restore the context that was current before :func:`bind`."""
    _current.reset(token)
