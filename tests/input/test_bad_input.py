"""Bad input against every money-moving POST and the card vault: refused, and nothing written.

A table of hostile bodies (issue 8, item 3) crossed with every endpoint that moves money
(charges, payments, authorizations, capture, refunds) and ``POST /cards/``. Each case must
answer 400, 413 or 415 as ``application/problem+json`` with the stable ``code`` the table
names, and write NOTHING: no journal entry, posting, hold, idempotency record, card, audit
event or auditlog entry, and no balance change.

Decision on audit events: malformed input is refused at the edge, before the idempotency layer
(``creditplatform.views.idempotent_post`` validates the key and the body first), so it records
no ``AuditEvent``. A malformed body is a client bug, not a security event; it is in the request
log. Business refusals of well-formed requests (``insufficient_credit``...) are a different
thing: they are stored, replayed and audited as ``request.refused`` (not tested here).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.conf import settings

from accounts.models import Card, CreditAccount
from compliance.models import AuditEvent
from ledger import services
from ledger.models import Hold, IdempotencyRecord, JournalEntry, Posting
from tests.factories import ACTOR, CustomerFactory, add_card

pytestmark = pytest.mark.django_db

PAN_NEW = "4012888888881881"


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: Callable[[dict[str, Any]], str]
    valid: Callable[[dict[str, Any]], dict[str, Any]]
    #: the body field that carries minor units (None: the endpoint has no amount)
    amount_field: str | None
    #: a free-text field (SafeTextField) to put hostile characters in
    text_field: str | None
    #: a numeric non-money field (cards: exp_month)
    int_field: str | None = None


ENDPOINTS = [
    Endpoint("charge", lambda w: f"/api/v1/accounts/{w['account'].pk}/charges/",
             lambda w: {"amount": 1000, "currency": "EUR", "merchant": "shop"},
             "amount", "merchant"),
    Endpoint("payment", lambda w: f"/api/v1/accounts/{w['account'].pk}/payments/",
             lambda w: {"amount": 1000, "currency": "EUR"}, "amount", None),
    Endpoint("authorization", lambda w: f"/api/v1/accounts/{w['account'].pk}/authorizations/",
             lambda w: {"amount": 1000, "currency": "EUR", "merchant": "hotel"},
             "amount", "merchant"),
    Endpoint("capture", lambda w: f"/api/v1/authorizations/{w['hold'].pk}/capture/",
             lambda w: {"amount": 500}, "amount", None),
    Endpoint("refund", lambda w: f"/api/v1/transactions/{w['entry'].pk}/refunds/",
             lambda w: {"amount": 500}, "amount", None),
    Endpoint("card", lambda w: "/api/v1/cards/",
             lambda w: {"account": str(w["account"].pk), "pan": PAN_NEW, "exp_month": 12,
                        "exp_year": 2099}, None, None, int_field="exp_month"),
]

# --- the bad-input table: (case name, how to build the raw request, expected status, code) ----
# A builder gets (endpoint, valid body) and returns (raw bytes, content type) or None when the
# case does not apply to that endpoint.

Raw = tuple[bytes, str]


def _json(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


def _with(field_attr: str, value_text: str) -> Callable[[Endpoint, dict[str, Any]], Raw | None]:
    """Set one field to raw JSON text ``value_text`` (so NaN, 1e400 and the like go verbatim)."""

    def build(ep: Endpoint, valid: dict[str, Any]) -> Raw | None:
        field = getattr(ep, field_attr)
        if field is None:
            return None
        body = {**valid, field: "@@VALUE@@"}
        return _json(body).replace(b'"@@VALUE@@"', value_text.encode()), "application/json"

    return build


def _text(value: str) -> Callable[[Endpoint, dict[str, Any]], Raw | None]:
    def _text_build(ep: Endpoint, valid: dict[str, Any]) -> Raw | None:
        field = ep.text_field or ("pan" if ep.name == "card" else None)
        if field is None:
            return None
        body = {**valid, field: (valid.get(field) or "x") + value}
        return json.dumps(body).encode(), "application/json"

    return _text_build


def _currency(value: str) -> Callable[[Endpoint, dict[str, Any]], Raw | None]:
    def build(ep: Endpoint, valid: dict[str, Any]) -> Raw | None:
        if "currency" not in valid:
            return None
        return json.dumps({**valid, "currency": value}).encode(), "application/json"

    return build


def _raw(text: bytes, ctype: str = "application/json") -> Callable[..., Raw]:
    return lambda ep, valid: (text, ctype)


def _duplicate_key(ep: Endpoint, valid: dict[str, Any]) -> Raw:
    key, value = next(iter(valid.items()))
    other = 1 if isinstance(value, int) else "dup"
    members = [f"{json.dumps(key)}: {json.dumps(value)}"]
    members += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in valid.items()]
    members[0] = f"{json.dumps(key)}: {json.dumps(other)}"
    return ("{" + ", ".join(members) + "}").encode(), "application/json"


def _oversized(ep: Endpoint, valid: dict[str, Any]) -> Raw:
    limit = getattr(settings, "API_MAX_BODY_BYTES", 64 * 1024)
    return _json({**valid, "padding": "a" * (limit + 1)}), "application/json"


def _wrong_type(ctype: str) -> Callable[..., Raw]:
    return lambda ep, valid: (_json(valid), ctype)


def _form(ep: Endpoint, valid: dict[str, Any]) -> Raw:
    from urllib.parse import urlencode

    return urlencode(valid).encode(), "application/x-www-form-urlencoded"


def _deep(depth: int) -> Callable[..., Raw]:
    def build(ep: Endpoint, valid: dict[str, Any]) -> Raw:
        field = ep.amount_field or ep.int_field or "account"
        nested = "[" * depth + "1" + "]" * depth
        return _json({**valid, field: "@@"}).replace(b'"@@"', nested.encode()), \
            "application/json"

    return build


V, M = "validation_error", "malformed_request"
CASES: list[tuple[str, Callable[[Endpoint, dict[str, Any]], Raw | None], int, str]] = [
    ("negative", _with("amount_field", "-100"), 400, V),
    ("zero", _with("amount_field", "0"), 400, V),
    ("huge", _with("amount_field", str(10**30)), 400, V),
    ("over_max", _with("amount_field", str(100_000_000 + 1)), 400, V),
    ("thousands_of_digits", _with("amount_field", "9" * 5000), 400, M),
    ("float", _with("amount_field", "10.5"), 400, V),
    ("integral_float", _with("amount_field", "10.0"), 400, V),
    ("exponent", _with("amount_field", "1e3"), 400, V),
    ("1e400", _with("amount_field", "1e400"), 400, V),
    ("NaN", _with("amount_field", "NaN"), 400, M),
    ("Infinity", _with("amount_field", "Infinity"), 400, M),
    ("-Infinity", _with("amount_field", "-Infinity"), 400, M),
    ("string_number", _with("amount_field", '"1000"'), 400, V),
    ("boolean", _with("amount_field", "true"), 400, V),
    ("null_amount", _with("amount_field", "null"), 400, V),
    ("object_amount", _with("amount_field", '{"value": 1000}'), 400, V),
    ("int_field_string", _with("int_field", '"12"'), 400, V),
    ("int_field_float", _with("int_field", "12.0"), 400, V),
    ("int_field_nan", _with("int_field", "NaN"), 400, M),
    ("int_field_1e400", _with("int_field", "1e400"), 400, V),
    ("control_char", _text("\x00"), 400, V),
    ("escape_char", _text("\x1b[31m"), 400, V),
    ("bidi_override", _text("\u202e"), 400, V),
    ("bidi_isolate", _text("\u2066"), 400, V),
    ("zero_width", _text("\u200b"), 400, V),
    ("lone_surrogate", _text("\ud800"), 400, V),
    ("currency_bidi", _currency("EU\u202eR"), 400, V),
    ("currency_lower", _currency("eur"), 400, V),
    ("currency_number", _currency("978"), 400, V),
    ("currency_unknown", _currency("ZZZ"), 400, V),  # three letters, not in ISO 4217
    ("currency_no_minor_unit", _currency("XXX"), 400, V),  # ISO 4217 "no currency"
    ("currency_withdrawn", _currency("DEM"), 400, V),  # Deutsche Mark: no longer in list one
    ("oversized_body", _oversized, 413, "payload_too_large"),
    ("duplicate_keys", _duplicate_key, 400, M),
    ("wrong_content_type_text", _wrong_type("text/plain"), 415, "unsupported_media_type"),
    ("wrong_content_type_xml", _wrong_type("application/xml"), 415, "unsupported_media_type"),
    ("form_encoded", _form, 415, "unsupported_media_type"),
    ("deep_nesting_5000", _deep(5000), 400, M),
    ("deep_nesting_50", _deep(50), 400, V),
    ("array_body", _raw(b"[1, 2, 3]"), 400, V),
    ("string_body", _raw(b'"charge"'), 400, V),
    ("truncated_json", _raw(b'{"amount": 10'), 400, M),
    ("invalid_utf8", _raw(b'{"amount": "\xff\xfe"}'), 400, M),
    ("trailing_garbage", _raw(b'{"amount": 10} x'), 400, M),
]


@pytest.fixture
def world() -> dict[str, Any]:
    """A cardholder (staff-free) with a charge and an open hold, and a partner-free refunder.

    Refunds need ``ledger.refund_journalentry``: the refund cases act as a platform admin.
    """
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    owner = CustomerFactory(credit_limit=1_000_000)
    account = owner.credit_accounts.get()
    card = add_card(owner, "4111111111111111")
    entry = services.charge_create(actor=owner, account_id=account.pk, amount=5000,
                                   currency="EUR", card_id=card.pk, merchant="shop").entry
    hold, _ = services.hold_create(actor=owner, account_id=account.pk, amount=2000,
                                   currency="EUR", card_id=card.pk, merchant="hotel")
    admin = UserFactory(is_staff=True)
    admin.groups.add(Group.objects.get(name="platform_admin"))
    assert ACTOR  # the factories' system actor made the card
    return {"owner": owner, "account": account, "entry": entry, "hold": hold, "admin": admin}


def state() -> dict[str, Any]:
    """Everything a refused request must leave unchanged."""
    return {
        "entries": JournalEntry.objects.count(),
        "postings": Posting.objects.count(),
        "holds": list(Hold.objects.order_by("pk").values_list("pk", "status", "captured_amount")),
        "idempotency": IdempotencyRecord.objects.count(),
        "cards": Card.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "auditlog": LogEntry.objects.count(),
        "balances": list(CreditAccount.objects.order_by("pk")
                         .values_list("pk", "posted", "pending")),
    }


def _applies(ep: Endpoint, build: Callable[..., Raw | None]) -> bool:
    """Whether ``build`` has a field to attack on ``ep`` (bodies need no database objects)."""
    stub_world = defaultdict(lambda: SimpleNamespace(pk=uuid.uuid4()))
    return build(ep, ep.valid(stub_world)) is not None


def _params() -> list[Any]:
    out = []
    for ep in ENDPOINTS:
        for name, build, status, code in CASES:
            if _applies(ep, build):
                out.append(pytest.param(ep, build, status, code, id=f"{ep.name}-{name}"))
    return out


@pytest.mark.parametrize(("endpoint", "build", "status", "code"), _params())
def test_bad_input_is_refused_and_writes_nothing(world, api, endpoint, build, status, code):
    built = build(endpoint, endpoint.valid(world))
    if built is None:
        pytest.skip(f"{endpoint.name} has no such field")
    raw, ctype = built
    user = world["admin"] if endpoint.name == "refund" else world["owner"]
    before = state()
    r = api(user).generic("POST", endpoint.path(world), raw, content_type=ctype,
                          HTTP_IDEMPOTENCY_KEY=f"bad-{uuid.uuid4().hex}")
    assert r.status_code == status, (r.status_code, r.content[:300])
    assert r["Content-Type"] == "application/problem+json"
    problem = json.loads(r.content)
    if (endpoint.name == "card" and build.__name__ == "_text_build"
            and problem["code"] == "invalid_card"):
        # A PAN with hostile characters that the field itself lets through (DRF's CharField
        # refuses NUL and surrogates: ``validation_error``, below) is refused by the vault as
        # ``invalid_card``, a business refusal that is stored (the key is spent) and audited
        # as ``request.refused`` -- failed card entries are worth a trail (card testing).
        assert problem["status"] == 400
        after = state()
        assert after.pop("idempotency") == before.pop("idempotency") + 1
        assert after.pop("audit_events") == before.pop("audit_events") + 1
        assert AuditEvent.objects.order_by("-pk").first().event_type == "request.refused"
        assert after == before
        return
    assert problem["code"] == code and problem["status"] == status
    assert state() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_the_valid_body_of_each_row_is_accepted(world, api, endpoint):
    """The control: the table's valid body does write (so 'nothing written' means something)."""
    user = world["admin"] if endpoint.name == "refund" else world["owner"]
    before = state()
    r = api(user).post(endpoint.path(world), endpoint.valid(world), format="json",
                       HTTP_IDEMPOTENCY_KEY=f"ok-{uuid.uuid4().hex}")
    assert r.status_code in (200, 201), r.content[:300]
    assert state() != before


@pytest.mark.parametrize("key", ["", "a" * 256, "caf\u00e9", "tab\tkey", "nul\x00"])
def test_bad_idempotency_keys_are_400_and_write_nothing(world, api, key):
    before = state()
    r = api(world["owner"]).post(f"/api/v1/accounts/{world['account'].pk}/charges/",
                                 {"amount": 100, "currency": "EUR"}, format="json",
                                 HTTP_IDEMPOTENCY_KEY=key)
    assert r.status_code == 400 and r["Content-Type"] == "application/problem+json"
    assert json.loads(r.content)["code"] in ("idempotency_key_missing", "idempotency_key_invalid")
    assert state() == before
