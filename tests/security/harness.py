"""Shared machinery of the security tests: the generated schema, a world of real objects,
the principals of the matrix, a valid request per operation, and a snapshot of the state.

Operations are keyed ``(METHOD, path)`` exactly as in the OpenAPI schema that
drf-spectacular generates (``/api/v1/accounts/{account_id}/``).
"""

from __future__ import annotations

import datetime
import functools
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import Group
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import api_clients
from accounts.models import ApiClient, Card, CreditAccount, User
from ledger import billing
from ledger import services as ledger_services
from ledger.models import Hold, JournalEntry, Posting
from tests.factories import ACTOR, TEST_PASSWORD, CustomerFactory, UserFactory, add_card
from tests.security.policy import POLICY

HTTP_METHODS = ("get", "put", "patch", "post", "delete")

PAN_OWNER = "4111111111111111"
PAN_OTHER = "5500000000000004"
PAN_NEW = "4012888888881881"  # the card a POST /cards/ puts into the vault

CHARGE_AMOUNT = 5000  # the owner's charge (entry_id), posted before each case
HOLD_AMOUNT = 2000    # the owner's open authorization (hold_id)


# --- the schema -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The OpenAPI document drf-spectacular generates (what ``/api/schema/`` serves)."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def schema_operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the schema: ``{(METHOD, path): operation object}``."""
    return {
        (method.upper(), path): op
        for path, item in schema()["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def resolve_ref(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    name = ref.rsplit("/", 1)[-1]
    return schema()["components"]["schemas"][name]


def request_schema(op: dict[str, Any]) -> dict[str, Any] | None:
    body = op.get("requestBody")
    if not body:
        return None
    content = body.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    return resolve_ref(media["schema"]) if media else None


# --- every route the URLconf serves ---------------------------------------------------------

def _route_text(pattern: Any) -> str:
    text = str(pattern)
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)           # path converters
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)         # named regex groups
    return text.lstrip("^").rstrip("$").replace("\\", "")


def url_routes() -> Iterator[tuple[str, Callable[..., Any]]]:
    """``(path, view callback)`` for every URL pattern, includes flattened."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + _route_text(p.pattern))
            else:
                yield prefix + _route_text(p.pattern), p.callback

    yield from walk(get_resolver().url_patterns, "/")


def view_methods(callback: Callable[..., Any]) -> set[str]:
    """The HTTP methods a view answers (OPTIONS/HEAD/TRACE aside)."""
    actions = getattr(callback, "actions", None)
    if actions:
        return {m.upper() for m in actions}
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:  # a plain function view
        return {"GET", "POST"}
    return {m.upper() for m in cls.http_method_names
            if m not in ("options", "head", "trace") and hasattr(cls, m)}


# --- the world: real objects made through the services ------------------------------------

@dataclass
class World:
    owner: User
    account: CreditAccount
    card: Card
    entry: JournalEntry   # a charge on ``card``
    hold: Hold            # an open authorization on ``card``
    other: User
    other_account: CreditAccount
    other_card: Card
    support: User
    admin: User
    partner: ApiClient        # the owner's card is issued for it when a case needs it
    partner_key: str
    foreign: ApiClient        # the other customer's card is issued for it
    foreign_key: str
    statement: Any = None     # the owner's closed billing statement (ledger/billing.py)

    def owner_ids(self) -> list[str]:
        """Strings that must never appear in an answer to someone the owner did not allow."""
        return [str(x) for x in (self.owner.pk, self.account.pk, self.card.pk, self.entry.pk,
                                 self.hold.pk, self.statement.pk)] + [self.owner.username]

    def witness(self, name: str) -> str:
        return str({"owner": self.owner.pk, "account": self.account.pk, "card": self.card.pk,
                    "entry": self.entry.pk, "hold": self.hold.pk,
                    "statement": self.statement.pk}[name])


def staff(role: str) -> User:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def build_world() -> World:
    owner = CustomerFactory()
    account = owner.credit_accounts.get()
    card = add_card(owner, PAN_OWNER)
    entry = ledger_services.charge_create(
        actor=owner, account_id=account.pk, amount=CHARGE_AMOUNT, currency="EUR",
        card_id=card.pk, merchant="matrix-shop").entry
    hold, _ = ledger_services.hold_create(
        actor=owner, account_id=account.pk, amount=HOLD_AMOUNT, currency="EUR",
        card_id=card.pk, merchant="matrix-hotel")
    other = CustomerFactory()
    other_card = add_card(other, PAN_OTHER)
    partner, partner_key = new_partner("matrix-partner")
    foreign, foreign_key = new_partner("matrix-foreign-partner")
    Card.objects.filter(pk=other_card.pk).update(issued_for=foreign)
    statement = billing.statement_close(actor=ACTOR, account_id=account.pk,
                                        period_end=timezone.localdate())
    return World(owner=owner, account=account, card=card, entry=entry, hold=hold, other=other,
                 other_account=other.credit_accounts.get(), other_card=other_card,
                 support=staff("support_agent"), admin=staff("platform_admin"),
                 partner=partner, partner_key=partner_key, foreign=foreign,
                 foreign_key=foreign_key, statement=statement)


# --- principals -----------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _shared_handler() -> Any:
    return APIClient().handler


def new_client() -> APIClient:
    """A fresh APIClient (no credentials, no cookies) on one shared request handler: the
    handler builds the middleware chain once, instead of once per client (~0.2 s each)."""
    client = APIClient()
    client.handler = _shared_handler()
    return client


def jwt_client(user: User | None) -> APIClient:
    """An HTTP client with a real access token (signed, aud/iss) for ``user``."""
    client = new_client()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def new_partner(name: str) -> tuple[ApiClient, str]:
    """A partner client (no scopes yet) and its key, made through the services."""
    client = api_clients.api_client_create(actor=ACTOR, name=name, scopes=[])
    _, key = api_clients.api_key_issue(actor=ACTOR, client=client)
    return client, key


def apikey_client(client: ApiClient, key: str, scopes: list[str]) -> APIClient:
    """Give the partner exactly ``scopes`` (in the test's transaction) and call as it."""
    ApiClient.objects.filter(pk=client.pk).update(scopes=sorted(scopes))
    http = new_client()
    http.credentials(HTTP_AUTHORIZATION=f"ApiKey {key}")
    return http


def principal(role: str, op_key: tuple[str, str], world: World) -> APIClient:
    """An HTTP client acting as ``role`` for the operation ``op_key``."""
    needed = POLICY[op_key].partner_scope
    every = list(ApiClient.SCOPES)
    if role == "owner":
        return jwt_client(world.owner)
    if role == "other_customer":
        return jwt_client(world.other)
    if role == "support_agent":
        return jwt_client(world.support)
    if role == "platform_admin":
        return jwt_client(world.admin)
    if role == "anonymous":
        return jwt_client(None)
    if role in ("partner_without_scope", "partner_scoped"):
        Card.objects.filter(pk=world.card.pk).update(issued_for=world.partner)
        scopes = ([s for s in every if s != needed] if role == "partner_without_scope"
                  else [needed] if needed else every)
        return apikey_client(world.partner, world.partner_key, scopes)
    if role == "partner_foreign":
        return apikey_client(world.foreign, world.foreign_key, [needed] if needed else every)
    raise AssertionError(f"unknown role {role}")


# --- a valid request for each operation ---------------------------------------------------

PATH_VALUES: dict[str, Callable[[World], Any]] = {
    "account_id": lambda w: w.account.pk,
    "card_id": lambda w: w.card.pk,
    "hold_id": lambda w: w.hold.pk,
    "entry_id": lambda w: w.entry.pk,
    "statement_id": lambda w: w.statement.pk,
    "endpoint_id": lambda w: webhook_endpoint_of(w.partner),
    "application_id": lambda w: credit_application_of(w.owner),
}


def credit_application_of(owner: User) -> Any:
    """The id of a new (decided) credit application of ``owner``, made through the service."""
    from accounts.credit import services as credit_services

    return credit_services.credit_application_create(
        actor=owner, applicant=owner, **CREDIT_APPLICATION_BODY,
        date_of_birth=datetime.date(1985, 5, 17)).pk


CREDIT_APPLICATION_BODY: dict[str, Any] = {
    "currency": "EUR", "requested_limit": 200_000, "monthly_income": 300_000,
    "monthly_obligations": 40_000, "employment_status": "employed", "employment_months": 24,
    "national_id": "MATRIX1234", "consent": True, "consent_text_version": "2026-11",
}


def webhook_endpoint_of(partner: ApiClient) -> Any:
    """The id of a live webhook endpoint of ``partner`` (made through the service)."""
    from creditplatform.webhooks import services as webhook_services
    from creditplatform.webhooks.models import WebhookEndpoint

    existing = WebhookEndpoint.objects.filter(client=partner, deleted_at__isnull=True).first()
    if existing is not None:
        return existing.pk
    return webhook_services.endpoint_create(
        actor=ACTOR, client=partner, url="https://93.184.215.14/matrix-hook",
        event_types=["charge.approved"]).endpoint.pk

QUERY_VALUES: dict[str, str] = {
    "start": "2000-01-01T00:00:00Z",
    "end": "2100-01-01T00:00:00Z",
}

BODIES: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/v1/auth/token/"):
        lambda w: {"username": w.owner.username, "password": TEST_PASSWORD},
    ("POST", "/api/v1/auth/token/refresh/"):
        lambda w: {"refresh": str(RefreshToken.for_user(w.owner))},
    ("POST", "/api/v1/auth/logout/"):
        lambda w: {"refresh": str(RefreshToken.for_user(w.owner))},
    ("POST", "/api/v1/auth/logout-all/"): lambda w: {},
    ("POST", "/api/v1/accounts/{account_id}/charges/"):
        lambda w: {"amount": 1000, "currency": "EUR", "card": str(w.card.pk),
                   "merchant": "matrix"},
    ("POST", "/api/v1/accounts/{account_id}/payments/"):
        lambda w: {"amount": 1000, "currency": "EUR"},
    ("POST", "/api/v1/accounts/{account_id}/authorizations/"):
        lambda w: {"amount": 1000, "currency": "EUR", "card": str(w.card.pk),
                   "merchant": "matrix"},
    ("POST", "/api/v1/authorizations/{hold_id}/capture/"): lambda w: {"amount": 1500},
    ("POST", "/api/v1/authorizations/{hold_id}/void/"): lambda w: {},
    ("POST", "/api/v1/cards/"):
        lambda w: {"account": str(w.account.pk), "pan": PAN_NEW, "exp_month": 12,
                   "exp_year": 2099},
    ("POST", "/api/v1/transactions/{entry_id}/refunds/"): lambda w: {"amount": 1000},
    ("POST", "/api/v1/webhooks/endpoints/"):
        lambda w: {"url": "https://93.184.215.14/matrix", "event_types": ["charge.approved"]},
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret/"): lambda w: {},
    ("POST", "/api/v1/transactions/{entry_id}/reversals/"): lambda w: {"reason": "matrix"},
    ("POST", "/api/v1/credit-applications/"):
        lambda w: {**CREDIT_APPLICATION_BODY, "date_of_birth": "1985-05-17"},
}


@dataclass
class Call:
    method: str
    url: str
    query: dict[str, str]
    body: dict[str, Any] | None


def build_call(op_key: tuple[str, str], world: World) -> Call:
    """The operation's URL with real path values, its required query, a valid body."""
    method, path = op_key
    op = schema_operations()[op_key]
    url, query = path, {}
    for param in op.get("parameters", []):
        name, where = param["name"], param["in"]
        if where == "path":
            assert name in PATH_VALUES, f"no real object for path parameter {name!r} of {op_key}"
            url = url.replace("{" + name + "}", str(PATH_VALUES[name](world)))
        elif where == "query" and param.get("required"):
            assert name in QUERY_VALUES, f"no value for required query {name!r} of {op_key}"
            query[name] = QUERY_VALUES[name]
    assert "{" not in url, f"unfilled path parameter in {url}"
    body = None
    if method in ("POST", "PUT", "PATCH"):
        assert op_key in BODIES, f"no valid body for {op_key}: add one to BODIES"
        body = BODIES[op_key](world)
        spec = request_schema(op)
        if spec is not None:  # the body is valid for the schema: nothing missing or unknown
            required, known = set(spec.get("required", [])), set(spec.get("properties", {}))
            assert required <= set(body), f"{op_key}: body lacks {required - set(body)}"
            assert set(body) <= known, f"{op_key}: body has unknown {set(body) - known}"
    return Call(method=method, url=url, query=query, body=body)


def send(client: APIClient, call: Call, *, body: dict[str, Any] | None = None) -> Any:
    """Send ``call`` (a fresh Idempotency-Key on every write)."""
    if call.method == "GET":
        return client.get(call.url, call.query)
    headers = {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
    data = call.body if body is None else body
    url = f"{call.url}?{urlencode(call.query)}" if call.query else call.url
    return getattr(client, call.method.lower())(url, data, format="json", **headers)


# --- the state a refused call must not change ------------------------------------------------

def snapshot() -> dict[str, Any]:
    return {
        "entries": JournalEntry.objects.count(),
        "postings": Posting.objects.count(),
        "accounts": list(CreditAccount.objects.order_by("pk").values_list(
            "pk", "owner_id", "currency", "credit_limit", "posted", "pending", "status")),
        "holds": list(Hold.objects.order_by("pk").values_list(
            "pk", "account_id", "status", "amount", "captured_amount", "closed_at")),
        "cards": list(Card.objects.order_by("pk").values_list(
            "pk", "account_id", "status", "issued_for_id")),
        "users": list(User.objects.order_by("pk").values_list(
            "pk", "is_staff", "is_superuser", "is_active")),
        "token_versions": list(User.objects.order_by("pk").values_list("pk", "token_version")),
        "webhook_endpoints": _webhook_endpoints(),
        "credit_applications": _credit_applications(),
    }


def _credit_applications() -> list[tuple[Any, ...]]:
    from accounts.credit.models import CreditApplication

    return list(CreditApplication.objects.order_by("pk").values_list(
        "pk", "applicant_id", "status", "requested_limit"))


def _webhook_endpoints() -> list[tuple[Any, ...]]:
    from creditplatform.webhooks.models import WebhookEndpoint

    return [(pk, client, active, deleted, bytes(secret)) for pk, client, active, deleted, secret
            in WebhookEndpoint.objects.order_by("pk").values_list(
                "pk", "client_id", "is_active", "deleted_at", "secret_encrypted")]
