"""drf-spectacular postprocessing: problem+json errors and ``Idempotency-Key`` on every
operation that needs them (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``).

For each operation the hook adds, per 4xx status it can answer, an ``application/problem+json``
response referencing the ``Problem`` component, with one named example per stable ``code``:

* every operation: 401 (``not_authenticated``, ``authentication_failed``), 403
  (``permission_denied``), 429 (``throttled``), 400 ``validation_error`` /
  ``malformed_request`` where there is a body, 404 ``not_found`` where the path names an object;
* operations that move money (:data:`MONEY_ROUTES`) declare the required ``Idempotency-Key``
  header and its refusals (400 missing/invalid, 409 in use, 422 mismatch), plus the business
  refusals of their service (:data:`ROUTE_ERRORS`, the classes' own ``code`` and ``status``).
"""

from __future__ import annotations

import re
from typing import Any

from creditplatform.errors import ApplicationError

#: Path patterns of the POSTs that move money: they need an Idempotency-Key.
MONEY_ROUTES = re.compile(
    r"/(charges|payments|authorizations|capture|void|refunds|reversals)/$")

IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "1-255 printable ASCII characters, unique per intended operation; scope is "
                   "the caller. The same key and body replay the stored answer "
                   "(`Idempotent-Replayed: true`), another body is 422.",
}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; switch on `code`, never on `detail`.",
    "properties": {
        "type": {"type": "string", "example": "/problems/insufficient_credit"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable reason."},
        "errors": {"type": "object", "description": "validation_error: field -> messages"},
        "reasons": {"type": "array", "items": {"type": "string"},
                    "description": "card_declined: the pre-authorization rules that fired"},
        "retry_after": {"type": "integer", "description": "seconds (409 in use, 429)"},
    },
    "required": ["type", "title", "status", "detail", "code"],
}


def _route_errors() -> list[tuple[re.Pattern[str], str, list[type[ApplicationError]]]]:
    from creditplatform.webhooks import exceptions as we
    from ledger import exceptions as le

    return [
        (re.compile(r"/charges/$"), "post",
         [le.InvalidAmount, le.CardRequired, le.InsufficientCredit, le.CardDeclined,
          le.CurrencyMismatch, le.AccountNotActive]),
        (re.compile(r"/accounts/\{[^}]+\}/authorizations/$"), "post",
         [le.InvalidAmount, le.CardRequired, le.InsufficientCredit, le.CardDeclined,
          le.CurrencyMismatch, le.AccountNotActive]),
        (re.compile(r"/payments/$"), "post",
         [le.InvalidAmount, le.CurrencyMismatch, le.AccountNotActive, le.PaymentExceedsBalance]),
        (re.compile(r"/capture/$"), "post",
         [le.InvalidAmount, le.HoldExpired, le.AlreadyCaptured, le.HoldNotOpen,
          le.CaptureExceedsHold]),
        (re.compile(r"/void/$"), "post", [le.AlreadyCaptured, le.HoldNotOpen]),
        (re.compile(r"/refunds/$"), "post",
         [le.InvalidAmount, le.RefundExceedsCharge, le.NotRefundable]),
        (re.compile(r"/reversals/$"), "post", [le.AlreadyReversed, le.ReversalNotAllowed]),
        (re.compile(r"/webhooks/endpoints/$"), "post",
         [we.UnsafeWebhookUrl, we.UnknownEventType]),
    ]


def _idempotency_errors() -> list[type[ApplicationError]]:
    from ledger import exceptions as le

    return [le.IdempotencyKeyMissing, le.IdempotencyKeyInvalid, le.IdempotencyKeyInUse,
            le.IdempotencyKeyMismatch]


TITLES = {400: "Bad request", 401: "Not authenticated", 402: "Payment refused",
          403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Unprocessable request",
          413: "Payload too large", 415: "Unsupported media type", 429: "Too many requests"}


def _add(codes: dict[int, dict[str, str]], status: int, code: str, title: str) -> None:
    codes.setdefault(status, {}).setdefault(code, title)


def postprocess_problems(result: dict[str, Any], generator: Any, request: Any,
                         public: bool) -> dict[str, Any]:
    """The hook: see the module doc. Returns ``result`` changed in place."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    route_errors = _route_errors()
    for path, item in result.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes: dict[int, dict[str, str]] = {}
            public_op = op.get("security") in (None, [], [{}])
            if not public_op:
                _add(codes, 401, "not_authenticated", "Not authenticated")
                _add(codes, 403, "permission_denied", "Permission denied")
            _add(codes, 401, "authentication_failed", "Authentication failed")
            if not public_op:
                _add(codes, 401, "token_revoked", "Token revoked")
            _add(codes, 429, "throttled", "Throttled")
            if "requestBody" in op or method in ("post", "put", "patch"):
                _add(codes, 400, "validation_error", "Invalid input")
                _add(codes, 400, "malformed_request", "Malformed request")
                _add(codes, 415, "unsupported_media_type", "Unsupported media type")
                _add(codes, 413, "payload_too_large", "Payload too large")  # parsers.py
            if "{" in path:
                _add(codes, 404, "not_found", "Not found")
            query = {p.get("name") for p in op.get("parameters", []) if p.get("in") == "query"}
            if query & {"page", "cursor"}:  # a page number or cursor that does not exist
                _add(codes, 404, "not_found", "Not found")
            if query - {"page", "cursor"}:  # validated query parameters (e.g. start/end)
                _add(codes, 400, "validation_error", "Invalid input")
            if method == "post" and MONEY_ROUTES.search(path):
                params = op.setdefault("parameters", [])
                if not any(p.get("in") == "header" and p.get("name") == "Idempotency-Key"
                           for p in params):
                    params.append(dict(IDEMPOTENCY_PARAMETER))
            if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key"
                   for p in op.get("parameters", [])):
                for exc in _idempotency_errors():
                    _add(codes, exc.status, exc.code, exc.title)
            for pattern, verb, excs in route_errors:
                if verb == method and pattern.search(path):
                    for exc in excs:
                        _add(codes, exc.status, exc.code, exc.title)
            responses = op.setdefault("responses", {})
            for status, by_code in sorted(codes.items()):
                examples = {
                    code: {"summary": code, "value": {
                        "type": f"/problems/{code}", "title": title, "status": status,
                        "detail": title + ".", "code": code}}
                    for code, title in sorted(by_code.items())}
                entry = responses.setdefault(str(status), {
                    "description": TITLES.get(status, "Refused") + ": "
                    + ", ".join(f"`{c}`" for c in sorted(by_code))})
                entry.setdefault("content", {})["application/problem+json"] = {
                    "schema": {"$ref": "#/components/schemas/Problem"}, "examples": examples}
    return result
