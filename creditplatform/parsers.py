"""Request parsing that turns every malformed body into a 400 (or 413), never a 500."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

from creditplatform.errors import ApplicationError

#: The largest request body the API parses, in bytes (``settings.API_MAX_BODY_BYTES``): every
#: API body is a few hundred bytes; 64 KiB leaves room and keeps a hostile body cheap to refuse.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class PayloadTooLarge(ApplicationError):
    """The request body is larger than ``settings.API_MAX_BODY_BYTES`` (413)."""

    status = 413
    code = "payload_too_large"
    title = "Payload too large"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing duplicate member names (RFC 8259 4: names SHOULD be
    unique; parsers disagree on which one wins, so an idempotency fingerprint or an audit record
    could describe another request than the one executed)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    """A strict JSON parser: no NaN/Infinity, no duplicate keys, no pathological nesting, and
    at most ``settings.API_MAX_BODY_BYTES`` bytes (default :data:`DEFAULT_MAX_BODY_BYTES`).

    Raises:
        ParseError (400 ``malformed_request``): invalid JSON or UTF-8, NaN/Infinity, duplicate
            keys, nesting deeper than the interpreter's recursion limit (Python's json raises
            RecursionError there, which DRF would let through as a 500), integers of more than
            4300 digits.
        PayloadTooLarge (413 ``payload_too_large``): a body over the limit.
    """

    def parse(self, stream: Any, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        limit = getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.",
                                  extra={"max_bytes": limit})
        parser_context = parser_context or {}
        encoding = str(parser_context.get("encoding") or settings.DEFAULT_CHARSET)
        if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            # JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1); anything else
            # (rot13, utf-7, base64...) is refused rather than decoded.
            raise UnsupportedMediaType(f"{media_type}",
                                       detail="JSON request bodies must be UTF-8.")
        try:
            text = raw.decode(encoding)
            return json.loads(text, object_pairs_hook=_no_duplicates,
                              parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {str(exc)[:200]}") from None
