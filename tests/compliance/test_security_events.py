"""Every security event type of issue 7 item 2, with its PCI DSS v4.0 10.2.2 fields.

One table: each case triggers one event the way production does (over HTTP where there is an
endpoint, through the service otherwise, with the request context bound as the middleware
binds it) and names the event type, outcome, actor and object it expects. The test then finds
that row among the rows written by the case and checks actor (type and id), type, outcome,
UTC time, source IP, user agent, request id and object.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from auditlog.context import set_actor
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts import api_clients, vault
from accounts.models import ApiClient
from compliance.audit import SystemActor
from compliance.models import AuditEvent
from creditplatform import context
from creditplatform.errors import NotFoundError
from tests.factories import TEST_PASSWORD, CustomerFactory, UserFactory, add_card

pytestmark = pytest.mark.django_db(transaction=True)

IP = "203.0.113.7"
UA = "compliance-events-test/1.0"
ACTOR = SystemActor("tests")


@dataclass
class Ctx:
    """What a case may use; ``rid`` is the request id the event must carry."""

    rid: str
    customer: Any
    other: Any
    admin: Any

    def headers(self) -> dict[str, str]:
        return {"HTTP_X_REQUEST_ID": self.rid}

    def web(self, user: Any = None) -> Client:
        client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
        if user is not None:
            client.force_login(user)
        return client

    def api_token(self, username: str, password: str = TEST_PASSWORD) -> Any:
        return self.web().post("/api/v1/auth/token/", {"username": username,
                                                      "password": password},
                               content_type="application/json", **self.headers())

    def bound(self) -> Any:
        """The request context the middleware would bind (for service-level triggers)."""
        return _Bound(context.RequestContext(request_id=self.rid, source_ip=IP, user_agent=UA))


class _Bound:
    def __init__(self, ctx: context.RequestContext) -> None:
        self.ctx = ctx

    def __enter__(self) -> None:
        self.token = context.bind(self.ctx)

    def __exit__(self, *exc: Any) -> None:
        context.reset(self.token)


@dataclass(frozen=True)
class Expect:
    event_type: str
    outcome: str
    actor: tuple[str, str]  # (actor_type, actor_id); actor_id "" when not known (anonymous)
    object: tuple[str, str] | None = None  # (object_type, object_id) or None: not checked


def _request_id() -> str:
    """A fresh request id of letters only: the middleware refuses an ``X-Request-ID`` that log
    redaction would change, and 13+ random hex digits can pass the PAN check (about 1 in 1,200
    uuid-hex ids did, so a run failed about once in 50)."""
    return "req-" + uuid.uuid4().hex[:16].translate(str.maketrans("0123456789", "ghijklmnop"))


def _user(u: Any) -> tuple[str, str]:
    return ("user", str(u.pk))


def login_success(c: Ctx) -> Expect:
    assert c.api_token(c.customer.username).status_code == 200
    return Expect("auth.login", "success", ("anonymous", ""))


def login_failure(c: Ctx) -> Expect:
    assert c.api_token(c.customer.username, "wrong").status_code == 401
    return Expect("auth.login", "failure", ("anonymous", ""))


def lockout(c: Ctx) -> Expect:
    from django.conf import settings

    for _ in range(settings.AXES_FAILURE_LIMIT):
        c.api_token(c.other.username, "wrong")
    assert c.api_token(c.other.username, "wrong").status_code == 429
    return Expect("auth.login", "denied", ("anonymous", ""))


def token_refresh(c: Ctx) -> Expect:
    refresh = c.api_token(c.customer.username).json()["refresh"]
    r = c.web().post("/api/v1/auth/token/refresh/", {"refresh": refresh},
                     content_type="application/json", **c.headers())
    assert r.status_code == 200
    return Expect("auth.refresh", "success", _user(c.customer), ("user", str(c.customer.pk)))


def refresh_reuse(c: Ctx) -> Expect:
    refresh = c.api_token(c.customer.username).json()["refresh"]
    web = c.web()
    web.post("/api/v1/auth/token/refresh/", {"refresh": refresh},
             content_type="application/json")
    r = web.post("/api/v1/auth/token/refresh/", {"refresh": refresh},
                 content_type="application/json", **c.headers())
    assert r.status_code == 401
    return Expect("auth.refresh_reuse", "denied", _user(c.customer))


def api_logout(c: Ctx) -> Expect:
    refresh = c.api_token(c.customer.username).json()["refresh"]
    r = c.web().post("/api/v1/auth/logout/", {"refresh": refresh},
                     content_type="application/json", **c.headers())
    assert r.status_code == 204
    return Expect("auth.logout", "success", ("anonymous", ""))


def session_login(c: Ctx) -> Expect:
    r = c.web().post("/admin/login/", {"username": c.admin.username, "password": TEST_PASSWORD},
                     **c.headers())
    assert r.status_code == 302
    return Expect("auth.login", "success", _user(c.admin), ("user", str(c.admin.pk)))


def session_login_failure(c: Ctx) -> Expect:
    r = c.web().post("/admin/login/", {"username": c.admin.username, "password": "nope"},
                     **c.headers())
    assert r.status_code == 200
    return Expect("auth.login", "failure", ("anonymous", ""))


def session_logout(c: Ctx) -> Expect:
    r = c.web(c.admin).post("/admin/logout/", **c.headers())
    assert r.status_code in (200, 302)
    return Expect("auth.logout", "success", _user(c.admin), ("user", str(c.admin.pk)))


def permission_denied(c: Ctx) -> Expect:
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="support_agent"))
    r = c.web(agent).get("/admin/accounts/apiclient/", **c.headers())
    assert r.status_code == 403
    return Expect("access.denied", "denied", _user(agent))


def foreign_object(c: Ctx) -> Expect:
    from rest_framework_simplejwt.tokens import AccessToken

    account = c.customer.credit_accounts.get()
    r = c.web().get(f"/api/v1/accounts/{account.pk}/", **c.headers(),
                    HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(c.other)}")
    assert r.status_code == 404
    return Expect("access.foreign_object", "denied", _user(c.other),
                  ("accounts.creditaccount", str(account.pk)))


def admin_add(c: Ctx) -> Expect:
    r = c.web(c.admin).post("/admin/accounts/apiclient/add/", {
        "name": "events-partner", "scopes": "[]", "throttle_rate": "600/min", "is_active": "on",
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0"}, **c.headers())
    assert r.status_code == 302, r.content[:2000]
    client = ApiClient.objects.get(name="events-partner")
    return Expect("admin.add", "success", _user(c.admin), ("accounts.apiclient", str(client.pk)))


def admin_change(c: Ctx) -> Expect:
    client = api_clients.api_client_create(actor=ACTOR, name="events-change", scopes=[])
    r = c.web(c.admin).post(f"/admin/accounts/apiclient/{client.pk}/change/", {
        "name": "events-change", "scopes": '["charges:write"]', "throttle_rate": "60/min",
        "is_active": "on", "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0"}, **c.headers())
    assert r.status_code == 302, r.content[:2000]
    return Expect("admin.change", "success", _user(c.admin),
                  ("accounts.apiclient", str(client.pk)))


def admin_delete(c: Ctx) -> Expect:
    group = Group.objects.create(name="events-temporary")
    r = c.web(c.admin).post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"},
                            **c.headers())
    assert r.status_code == 302
    return Expect("admin.delete", "success", _user(c.admin), ("auth.group", str(group.pk)))


def admin_action_key_rotation(c: Ctx) -> Expect:
    client = api_clients.api_client_create(actor=ACTOR, name="events-rotate", scopes=[])
    api_clients.api_key_issue(actor=ACTOR, client=client)
    r = c.web(c.admin).post("/admin/accounts/apiclient/", {
        "action": "rotate_key", "_selected_action": [str(client.pk)], "index": "0"},
        **c.headers())
    assert r.status_code == 302
    return Expect("admin.action", "success", _user(c.admin),
                  ("accounts.apiclient", str(client.pk)))


def api_key_rotated(c: Ctx) -> Expect:
    admin_action_key_rotation(c)
    return Expect("api_key.issued", "success", _user(c.admin), ("api_client", str(
        ApiClient.objects.get(name="events-rotate").pk)))


def key_ring_rotation(c: Ctx) -> Expect:
    with c.bound():
        call_command("rotate_keys", "--add-key", "--no-progress", stdout=io.StringIO())
    return Expect("keys.rotated", "success", ("system", "rotate_keys"))


def role_change(c: Ctx) -> Expect:
    staff = UserFactory(is_staff=True)
    with c.bound(), set_actor(c.admin):
        staff.groups.add(Group.objects.get(name="compliance_officer"))
    return Expect("role.changed", "success", _user(c.admin), ("accounts.user", str(staff.pk)))


def pan_reveal(c: Ctx) -> Expect:
    card = add_card(c.customer)
    with c.bound(), pytest.raises(NotFoundError):
        vault.card_pan_reveal(actor=c.other, card_id=card.pk)
    return Expect("card.pan_reveal", "denied", _user(c.other), ("card", str(card.pk)))


def rule_change(c: Ctx) -> Expect:
    from fraud import services as fraud

    maker = UserFactory(is_staff=True)
    maker.groups.add(Group.objects.get(name="platform_admin"))
    maker = type(maker).objects.get(pk=maker.pk)
    with c.bound():
        rs = fraud.ruleset_create_draft(actor=maker, change_note="events test")
    return Expect("fraud.rules.drafted", "success", _user(maker), ("ruleset", str(rs.pk)))


def alert_decision(c: Ctx) -> Expect:
    from fraud import services as fraud
    from fraud.models import Alert
    from ledger import services as ledger

    account = c.customer.credit_accounts.get()
    entry = ledger.charge_create(actor=c.customer, account_id=account.pk, amount=500,
                                 currency="EUR", merchant="shop").entry
    alert = Alert.objects.create(entry=entry, account=account, score=0.9, reasons=["t"])
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="support_agent"))
    agent = type(agent).objects.get(pk=agent.pk)
    with c.bound():
        fraud.alert_decide(actor=agent, alert_id=alert.pk, decision="confirm_fraud",
                           note="called the cardholder")
    return Expect("fraud.alert.decided", "success", _user(agent), ("alert", str(alert.pk)))


def csv_export(c: Ctx) -> Expect:
    officer = UserFactory(is_staff=True)
    officer.groups.add(Group.objects.get(name="compliance_officer"))
    r = c.web(officer).get("/admin/compliance/auditevent/export.csv?outcome__exact=success",
                           **c.headers())
    assert r.status_code == 200
    b"".join(r.streaming_content)
    return Expect("export.csv", "success", _user(officer), ("compliance.auditevent", None))


CASES: dict[str, Callable[[Ctx], Expect]] = {f.__name__: f for f in (
    login_success, login_failure, lockout, token_refresh, refresh_reuse, api_logout,
    session_login, session_login_failure, session_logout, permission_denied, foreign_object,
    admin_add, admin_change, admin_delete, admin_action_key_rotation, api_key_rotated,
    key_ring_rotation, role_change, pan_reveal, rule_change, alert_decision, csv_export)}


@override_settings(ADMIN_REQUIRE_OTP=False)
@pytest.mark.parametrize("case", sorted(CASES))
def test_security_event_is_recorded_with_pci_fields(case: str) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    ctx = Ctx(rid=_request_id(), customer=CustomerFactory(),
              other=CustomerFactory(), admin=admin)
    high = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    started = timezone.now()
    expect = CASES[case](ctx)
    finished = timezone.now()
    rows = list(AuditEvent.objects.filter(id__gt=high, event_type=expect.event_type,
                                          request_id=ctx.rid).order_by("-id"))
    seen = list(AuditEvent.objects.filter(id__gt=high).values_list("event_type", "request_id"))
    assert rows, f"{case}: no {expect.event_type} event with request id {ctx.rid}; got {seen}"
    row = rows[0]
    assert row.outcome == expect.outcome
    assert (row.actor_type, row.actor_id if expect.actor[1] else "") == expect.actor
    assert started <= row.occurred_at <= finished
    assert row.occurred_at.utcoffset().total_seconds() == 0  # UTC
    assert row.source_ip == IP and row.user_agent == UA and row.request_id == ctx.rid
    if expect.object is not None:
        assert row.object_type == expect.object[0]
        if expect.object[1] is not None:
            assert row.object_id == expect.object[1]


@pytest.mark.django_db
def test_identifiers_whose_digits_pass_luhn_are_kept_whole():
    """A UUID such as a9b27033-9362-4207-... holds the Luhn-valid run 27033-9362-4207: the PAN
    heuristics must not mangle ids, or the trail could not be searched by object."""
    from compliance import audit

    ident = "a9b27033-9362-4207-aa61-cbfb5a2f9a8d"
    digest = "0f47700d68a1a4626639134515df5df" + "0" * 33  # a SHA-256 with a Luhn-valid run
    event = audit.record("test.ids", actor=SystemActor("t"), object_type="account",
                         object_id=ident, details={"account": ident, "pan": "4111111111111111",
                                                   "sha256": digest,
                                                   "note": "card 4111 1111 1111 1111"})
    event.refresh_from_db()
    assert event.object_id == ident and event.details["account"] == ident
    assert event.details["sha256"] == digest
    assert "4111111111111111" not in str(event.details)
    assert "4111 1111 1111 1111" not in str(event.details)
