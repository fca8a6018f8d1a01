"""Record security events. Imports no other app, so every app can record an event.

Call :func:`record` from a service inside the transaction of the change it describes; the row
commits or rolls back with the change.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from django.utils import timezone

from creditplatform import context
from creditplatform.logging import SENSITIVE_KEYS, redact, redact_text

_DIGIT_RUN = re.compile(r"\d[\d -]{11,22}\d")


class AuditPrincipal(Protocol):
    """Anything that acts: a user, a partner API client or a system job."""

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        """``(actor_type, actor_id, label)``, e.g. ``("user", "<uuid>", "alice")``."""
        ...


class SystemActor:
    """A non-human actor (a command or a task), e.g. ``SystemActor("replay_transactions")``."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        return ("system", self.name, self.name)

    @property
    def idempotency_scope(self) -> str:
        return f"system:{self.name}"

    def __repr__(self) -> str:
        return f"SystemActor({self.name!r})"


def mask_last4(value: Any) -> str:
    """Mask all but the last 4 characters: ``"4111111111111111" -> "************1111"``.

    Used for sensitive fields in audit entries (auditlog's ``AUDITLOG_MASK_CALLABLE``).
    """
    text = "" if value is None else str(value)
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def _clean(text: str, limit: int) -> str:
    """Storable text: redacted (no PAN, token or secret), no NUL, no lone surrogates."""
    text = redact_text(text).replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


_IDENTIFIER = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                         r"[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|\d{1,12}")


def _clean_id(value: Any) -> str:
    """An identifier column (actor, object, request id): a UUID or a short integer is kept as
    it is (the PAN heuristic would mangle a UUID whose digits happen to pass Luhn); anything
    else is cleaned like free text."""
    text = str(value)
    return text if _IDENTIFIER.fullmatch(text) else _clean(text, 64)


#: Values kept whole in ``details``: UUIDs (object ids) and hex digests (SHA-256 of exports,
#: archives, seals). Their digits may happen to form a Luhn-valid run; they are not PANs.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
                   r"|[0-9a-f]{32,128}")


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        # An id or digest is kept whole (see _UUID).
        return {str(k): (v if isinstance(v, str) and _UUID.fullmatch(v)
                         and not SENSITIVE_KEYS.search(str(k)) else _redact(redact(v, str(k))))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return _clean(_DIGIT_RUN.sub(lambda m: mask_last4(re.sub(r"\D", "", m.group())), value),
                      10_000)
    return value


def record(
    event_type: str,
    *,
    actor: AuditPrincipal | None,
    outcome: str = "success",
    object_type: str = "",
    object_id: object = "",
    details: dict[str, Any] | None = None,
) -> Any:
    """Append one :class:`compliance.models.AuditEvent` (PCI DSS v4.0 10.2.2 fields).

    ``details`` is redacted: digit runs of 13-24 characters keep only their last 4.
    Returns the saved event.
    """
    from compliance.models import AuditEvent  # imported late: apps are loaded by now

    if actor is None:
        actor_type, actor_id, label = ("anonymous", "", "")
    else:
        actor_type, actor_id, label = actor.audit_principal
    ctx = context.current()
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        actor_type=actor_type,
        actor_id=_clean_id(actor_id),
        actor_label=_clean(_DIGIT_RUN.sub("[digits]", str(label)), 150),
        event_type=event_type,
        outcome=outcome,
        source_ip=ctx.source_ip,
        user_agent=_clean(ctx.user_agent, 512),
        request_id=_clean_id(ctx.request_id),
        object_type=object_type,
        object_id=_clean_id(object_id),
        details=_redact(details or {}),
    )
