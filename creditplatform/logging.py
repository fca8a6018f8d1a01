"""Structured logs (structlog, JSON, with request id) that pass a redaction step first.

Every record, from the platform's structlog loggers and from the standard library (Django,
DRF, Celery, gunicorn), goes through :func:`redact_event` before any handler writes it:

* PANs: runs of 13-19 digits, also grouped with single spaces or dashes, that pass the Luhn
  check (ISO/IEC 7812-1) become ``[PAN ****1234]`` (PCI DSS v4.0 3.4.1 allows the last four);
* JWTs (three base64url segments starting ``eyJ``) become ``[JWT]``;
* partner API keys ``cpk_<prefix>_<secret>`` keep only the prefix;
* values under keys such as ``authorization``, ``cookie``, ``password``, ``secret``, ``token``,
  ``api_key``, ``pan`` are replaced whole;
* the configured secrets themselves (``SECRET_KEY``, ``JWT signing key``, ``FIELD_KEK``) never
  appear, even inside other text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from creditplatform.luhn import luhn_valid

REDACTED = "[REDACTED]"
SENSITIVE_KEYS = re.compile(
    r"(authorization|cookie|password|passwd|secret|token|api[_-]?key|pan\b|^pan$|card_number|"
    r"signing_key|private_key|kek|national_id|ssn)", re.IGNORECASE)
# digits joined by single separators: space, dash, or their URL encodings (%20, +, %2D)
_SEP = r"(?:[ -]|%20|%2[dD]|\+)"
_DIGIT_RUN = re.compile(rf"(?<![\d])\d(?:{_SEP}?\d)*(?![\d])")
_SEP_RE = re.compile(_SEP)
_SECRET_PAIR = re.compile(
    r"""(?i)((?:password|passwd|secret|token|authorization|cookie|api[_-]?key|sessionid|csrftoken)"""
    r"""['"]?\s*[:=]\s*['"]?)(?:(?:basic|bearer|apikey)\s+)?[^'"\s,;}&]+""")
_AUTH_SCHEME = re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_API_KEY = re.compile(r"\b(cpk_[0-9a-f]{12}_)[A-Za-z0-9_-]+")
_secrets: list[str] = []


def register_secrets(values: Iterable[str]) -> None:
    """Add literal secret values (keys, signing keys) that must never be written."""
    for value in values:
        if value and len(value) >= 8 and value not in _secrets:
            _secrets.append(value)


def _pan(match: re.Match[str]) -> str:
    """Redact every Luhn-valid 13-19 digit window of a run that starts and ends on a group
    boundary (run edge or separator): "qty 2 4111 1111 1111 1111" still loses its PAN."""
    text = match.group()
    digits: list[str] = []
    starts = {0}
    ends: set[int] = set()
    pos = 0
    while pos < len(text):
        sep = _SEP_RE.match(text, pos)
        if sep and digits:
            ends.add(len(digits))
            starts.add(len(digits))
            pos = sep.end()
            continue
        digits.append(text[pos])
        pos += 1
    ends.add(len(digits))
    hidden = [False] * len(digits)
    last4 = ""
    for start in sorted(starts):
        for end in sorted(ends):
            if 13 <= end - start <= 19 and luhn_valid("".join(digits[start:end])):
                for i in range(start, end):
                    hidden[i] = True
                last4 = "".join(digits[end - 4:end])
    if not any(hidden):
        return text
    return f"[PAN ****{last4}]"


_PAN_STRICT = re.compile(
    r"(?<!\d)(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5})(?!\d)")


def contains_pan(text: str) -> bool:
    """True when ``text`` holds a Luhn-valid PAN written as one run of 13-19 digits or in a
    card grouping (4-4-4-4..., Amex 4-6-5). Stricter than :func:`redact_text`, which also
    hides looser digit runs: used to refuse input, where a false positive (a UUID's digits
    across dashes) would reject a legitimate value."""
    return any(luhn_valid(re.sub(r"\D", "", m.group())) for m in _PAN_STRICT.finditer(text))


def redact_text(text: str) -> str:
    """Remove PANs, JWTs, API key secrets and registered secrets from a string."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub("[JWT]", text)
    text = _API_KEY.sub(r"\1[REDACTED]", text)
    text = _SECRET_PAIR.sub(r"\1[REDACTED]", text)
    text = _AUTH_SCHEME.sub(r"\1 [REDACTED]", text)
    return _DIGIT_RUN.sub(_pan, text)


def redact(value: Any, key: str = "") -> Any:
    """Redact a value of any JSON-like shape; ``key`` is the mapping key it sits under."""
    if key and SENSITIVE_KEYS.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, MutableMapping | dict):
        return {redact_text(str(k)): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        text = str(value)
        return value if redact_text(text) == text else redact_text(text)
    return redact_text(repr(value) if isinstance(value, BaseException) else str(value))


def redact_event(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: redact every field (after exceptions are rendered to text)."""
    record = event_dict.pop("_record", None)
    from_structlog = event_dict.pop("_from_structlog", None)
    cleaned = {k: redact(v, k if k not in ("event",) else "") for k, v in event_dict.items()}
    if record is not None:
        cleaned["_record"] = record
        cleaned["_from_structlog"] = from_structlog
    return cleaned


def _drop_stdlib_internals(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    event_dict.pop("_record", None)
    event_dict.pop("_from_structlog", None)
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
]


def formatter_config() -> dict[str, Any]:
    """The ``LOGGING`` formatter entry: JSON lines for every record, redacted first."""
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        # the last step before any handler writes, for structlog and stdlib records alike
        "processors": [redact_event, _drop_stdlib_internals, structlog.processors.JSONRenderer()],
        "foreign_pre_chain": SHARED_PROCESSORS,
    }


def configure_structlog() -> None:
    """Route structlog loggers through the standard library handlers (one pipeline)."""
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    """A structlog logger; ``log.info("event", key=value)`` writes one redacted JSON line."""
    return structlog.get_logger(name)


__all__ = ["configure_structlog", "formatter_config", "get_logger", "redact", "redact_text",
           "register_secrets", "logging"]
