"""No service changes an audited model without an entry (issue 7, item 1).

Two walkers:

* every public function of every service module of accounts, ledger, fraud, compliance, the
  portal and webhooks (found by introspection: each ``services.py`` under the app, plus
  :data:`EXTRA_MODULES`) must
  have a row in :data:`SERVICES`: either how to call it (the test calls it and asserts it
  wrote at least one django-auditlog ``LogEntry`` or ``AuditEvent``) or why it is exempt (a pure
  function, a read, a batch driver whose per-item service has its own row). A new service
  without a row fails here, loudly, so it cannot be forgotten;
* every model of those apps must be registered with django-auditlog
  (``compliance.registrations.AUDITED``) or listed in ``NOT_AUDITED`` with a reason.

Excluded on purpose: balance columns of a credit account (``posted``, ``pending``) are written
with ``QuerySet.update()``-style saves by the ledger services without an auditlog entry, because
the ledger is its own trail: every balance change is a journal entry or a hold, each of which
is logged (and append-only in PostgreSQL).
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from accounts import api_clients, vault
from accounts import services as accounts_services
from accounts.models import ApiKey, Card
from compliance.audit import SystemActor
from compliance.models import AuditEvent
from compliance.registrations import AUDITED, NOT_AUDITED
from creditplatform.errors import NotFoundError
from ledger import services as ledger
from tests.factories import CustomerFactory, UserFactory, add_card

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = SystemActor("tests")
APPS = ("accounts", "ledger", "fraud", "compliance", "portal", "webhooks")
#: Where each app's code lives, relative to the project root.
APP_DIRS = {"accounts": "accounts", "ledger": "ledger", "fraud": "fraud",
            "compliance": "compliance", "portal": "creditplatform/portal",
            "webhooks": "creditplatform/webhooks"}
EXTRA_MODULES = ("accounts.api_clients", "accounts.vault", "ledger.billing")
ROOT = Path(settings.BASE_DIR)


def service_modules() -> list[str]:
    """``<app>[.<pkg>].services`` modules of :data:`APPS`, plus :data:`EXTRA_MODULES`."""
    found = []
    for app in APPS:
        for dirpath, dirnames, filenames in os.walk(ROOT / APP_DIRS[app]):
            dirnames[:] = [d for d in dirnames if d not in ("migrations", "__pycache__")]
            if "services.py" in filenames:
                rel = Path(dirpath).relative_to(ROOT)
                found.append(".".join([*rel.parts, "services"]))
    found += [m for m in EXTRA_MODULES if (ROOT / (m.replace(".", "/") + ".py")).exists()]
    return sorted(set(found))


def public_functions() -> list[str]:
    """``module.function`` for every public function defined in a service module."""
    names = []
    for module_name in service_modules():
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(obj):
                continue
            if getattr(obj, "__module__", None) != module_name:
                continue  # imported from elsewhere
            names.append(f"{module_name}.{name}")
    return sorted(names)


# --- the world a service is called in -------------------------------------------------------


class World:
    """A cardholder with an account, a card and a charge; staff for each role."""

    def __init__(self) -> None:
        self.customer = CustomerFactory()
        self.account = self.customer.credit_accounts.first()
        self.card = add_card(self.customer)
        self.entry = ledger.charge_create(actor=self.customer, account_id=self.account.pk,
                                          amount=1000, currency="EUR", card_id=self.card.pk,
                                          merchant="shop").entry

    def staff(self, *perms: str, group: str | None = None) -> Any:
        user = UserFactory(is_staff=True)
        if group:
            user.groups.add(Group.objects.get(name=group))
        for dotted in perms:
            app_label, codename = dotted.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                             codename=codename))
        return type(user).objects.get(pk=user.pk)  # fresh permission cache

    def alert(self) -> Any:
        from fraud.models import Alert

        return Alert.objects.create(entry=self.entry, account=self.account, card=self.card,
                                    score=0.9, reasons=["test"])

    def hold(self) -> Any:
        hold, _ = ledger.hold_create(actor=self.customer, account_id=self.account.pk,
                                     amount=500, currency="EUR", card_id=self.card.pk,
                                     merchant="hotel")
        return hold


@dataclass(frozen=True)
class Call:
    """Call the service in a fresh :class:`World`; it must write an audit row."""

    run: Callable[[World], Any]


@dataclass(frozen=True)
class Exempt:
    """Not a write of an audited model (or covered by another row): say why."""

    reason: str


def _ruleset_draft(w: World) -> Any:
    from fraud import services as fraud

    maker = w.staff("fraud.add_ruleset", "fraud.change_ruleset")
    return maker, fraud.ruleset_create_draft(actor=maker, change_note="tighter")


def _ruleset_pending(w: World) -> Any:
    from fraud import services as fraud

    maker, rs = _ruleset_draft(w)
    fraud.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    return rs


def _fraud(name: str) -> Any:
    return getattr(importlib.import_module("fraud.services"), name)


def _statement_close(w: World, once: bool = False) -> Any:
    from ledger import billing

    close = billing.statement_close_once if once else billing.statement_close
    return close(actor=ACTOR, account_id=w.account.pk, period_end=timezone.localdate())


def _terms_change_pending(w: World) -> Any:
    from ledger import billing

    return billing.billing_terms_change(actor=w.staff(group="platform_admin"), account=w.account,
                                        apr_bps=3000, reason="repricing")


def _billing(name: str) -> Any:
    return getattr(importlib.import_module("ledger.billing"), name)


def _credit(name: str) -> Any:
    return getattr(importlib.import_module("accounts.credit.services"), name)


def _credit_application(w: World) -> Any:
    from accounts.credit.services import CURRENT_CONSENT_VERSION

    return _credit("credit_application_create")(
        actor=w.customer, applicant=w.customer, currency="EUR", requested_limit=200_000,
        monthly_income=300_000, monthly_obligations=50_000, employment_status="employed",
        employment_months=24, date_of_birth=dt.date(1985, 5, 17), national_id="AB1234567",
        consent=True, consent_text_version=CURRENT_CONSENT_VERSION, decide=False)


def _credit_decide(w: World) -> Any:
    from creditplatform.model_registry import RegistryError

    app = _credit_application(w)
    try:
        return _credit("credit_application_decide")(actor=ACTOR, application=app)
    except RegistryError as exc:  # the PD model artifact is trained by accounts/credit
        pytest.skip(f"no credit PD model artifact to decide with: {exc}")


def _portal(name: str) -> Any:
    return getattr(importlib.import_module("creditplatform.portal.services"), name)


def _webhooks(name: str) -> Any:
    return getattr(importlib.import_module("creditplatform.webhooks.services"), name)


def _totp_token(device: Any) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _totp_confirm(w: World) -> Any:
    device = _portal("totp_device_begin")(actor=w.customer, user=w.customer)
    return _portal("totp_device_confirm")(actor=w.customer, user=w.customer,
                                          token=_totp_token(device))


def _totp_remove(w: World) -> Any:
    from accounts.models import SealedTOTPDevice

    device = SealedTOTPDevice(user=w.customer, name="phone", confirmed=True)
    device.set_secret(b"walker-totp-secret-0001")
    device.save()
    return _portal("totp_device_remove")(actor=w.customer, user=w.customer,
                                         token=_totp_token(device))


def _endpoint(w: World) -> Any:
    client = api_clients.api_client_create(actor=ACTOR, name="hooks", scopes=["webhooks:manage"])
    return _webhooks("endpoint_create")(actor=ACTOR, client=client,
                                        url="https://93.184.216.34/hooks",
                                        event_types=[_first_event_type()])


def _first_event_type() -> str:
    return importlib.import_module("creditplatform.webhooks.events").EVENT_TYPES[0]


def _limit_request(w: World) -> Any:
    threshold = _credit("four_eyes_threshold")()
    return _credit("credit_limit_increase_request")(
        actor=w.staff("accounts.add_creditchangerequest"), account=w.account,
        new_limit=w.account.credit_limit + threshold + 1, reason="good payer")


SERVICES: dict[str, Call | Exempt] = {
    # accounts.services
    "accounts.services.email_clean": Exempt("validation (reads whether an address is taken)"),
    "accounts.services.normalize_pan": Exempt("pure validation"),
    "accounts.services.pan_blind_index": Exempt("pure HMAC"),
    "accounts.services.card_pan_reveal_unaudited": Exempt(
        "vault-internal read; callers are audited (accounts.vault.card_pan_reveal)"),
    "accounts.services.credit_account_create": Call(
        lambda w: accounts_services.credit_account_create(actor=ACTOR, owner=w.customer,
                                                          credit_limit=5000, currency="USD")),
    "accounts.services.customer_create": Call(
        lambda w: accounts_services.customer_create(actor=ACTOR, username="walker",
                                                    password=None, credit_limit=1,
                                                    currency="EUR")),
    "accounts.services.card_create": Call(
        lambda w: accounts_services.card_create(actor=w.customer, account_id=w.account.pk,
                                                pan="5555555555554444", exp_month=1,
                                                exp_year=2099)),
    "accounts.services.card_freeze": Call(
        lambda w: accounts_services.card_freeze(actor=w.customer, card=w.card, reason="lost")),
    "accounts.services.card_unfreeze": Call(
        lambda w: accounts_services.card_unfreeze(actor=w.customer, card=w.card, reason="ok")),
    # accounts.api_clients
    "accounts.api_clients.api_client_create": Call(
        lambda w: api_clients.api_client_create(actor=ACTOR, name="walker-partner",
                                                scopes=["charges:write"])),
    "accounts.api_clients.api_key_issue": Call(
        lambda w: api_clients.api_key_issue(
            actor=ACTOR, client=api_clients.api_client_create(actor=ACTOR, name="p2",
                                                               scopes=[]))),
    "accounts.api_clients.api_key_revoke": Call(
        lambda w: api_clients.api_key_revoke(
            actor=ACTOR, key=ApiKey.objects.get(pk=api_clients.api_key_issue(
                actor=ACTOR, client=api_clients.api_client_create(
                    actor=ACTOR, name="p3", scopes=[]))[0].pk))),
    # accounts.vault
    "accounts.vault.customer_key": Exempt(
        "creates the customer's data key on first use inside an audited service "
        "(card_create, customer_profile_set); the key row is auditlog-registered"),
    "accounts.vault.seal": Exempt("pure encryption"),
    "accounts.vault.unseal": Exempt("pure decryption"),
    "accounts.vault.card_pan": Exempt("vault-internal read (card_pan_reveal is audited)"),
    "accounts.vault.card_pan_reveal": Call(
        lambda w: pytest.raises(NotFoundError, vault.card_pan_reveal, actor=w.customer,
                                card_id=w.card.pk)),  # refused reveal: still an event
    "accounts.vault.customer_profile_set": Call(
        lambda w: vault.customer_profile_set(actor=ACTOR, user=w.customer,
                                             national_id="AB123456", credit_score=700)),
    "accounts.vault.customer_profile_read": Exempt("read"),
    "accounts.vault.customer_erase": Call(
        lambda w: vault.customer_erase(actor=ACTOR, user=w.customer)),
    # ledger.services
    "ledger.services.validate_amount": Exempt("pure validation"),
    "ledger.services.charge_create": Call(
        lambda w: ledger.charge_create(actor=w.customer, account_id=w.account.pk, amount=700,
                                       currency="EUR", merchant="cafe")),
    "ledger.services.payment_create": Call(
        lambda w: ledger.payment_create(actor=w.customer, account_id=w.account.pk, amount=300,
                                        currency="EUR")),
    "ledger.services.hold_create": Call(lambda w: w.hold()),
    "ledger.services.hold_capture": Call(
        lambda w: ledger.hold_capture(actor=w.customer, hold_id=w.hold().pk)),
    "ledger.services.hold_void": Call(
        lambda w: ledger.hold_void(actor=w.customer, hold_id=w.hold().pk)),
    "ledger.services.holds_expire": Call(
        lambda w: (w.hold(), ledger.holds_expire(now=timezone.now() + dt.timedelta(days=60)))),
    "ledger.services.refund_create": Call(
        lambda w: ledger.refund_create(actor=ACTOR, entry_id=w.entry.pk, amount=100)),
    "ledger.services.reversal_create": Call(
        lambda w: ledger.reversal_create(actor=ACTOR, entry_id=w.entry.pk, reason="error")),
    # ledger.billing
    "ledger.billing.round_minor": Exempt("pure arithmetic"),
    "ledger.billing.bucket_for": Exempt("pure arithmetic"),
    "ledger.billing.terms_for": Exempt("read"),
    "ledger.billing.next_cycle_end": Exempt("pure date arithmetic"),
    "ledger.billing.statement_entry_ids": Exempt("read"),
    "ledger.billing.daily_balances": Exempt("pure arithmetic"),
    "ledger.billing.interest_for": Exempt("pure arithmetic"),
    "ledger.billing.minimum_payment_for": Exempt("pure arithmetic"),
    "ledger.billing.allocate": Exempt("pure arithmetic"),
    "ledger.billing.days_past_due_as_of": Exempt("read"),
    "ledger.billing.due_period_ends": Exempt("read"),
    "ledger.billing.statement_close": Call(_statement_close),
    "ledger.billing.billing_run": Exempt("batch driver: each statement is statement_close"),
    "ledger.billing.statement_close_once": Call(
        lambda w: _statement_close(w, once=True)),
    "ledger.billing.unreversed_payments": Exempt("read"),
    "ledger.billing.billing_terms_change": Call(_terms_change_pending),
    "ledger.billing.billing_terms_change_approve": Call(
        lambda w: _billing("billing_terms_change_approve")(
            actor=w.staff(group="platform_admin"), change=_terms_change_pending(w))),
    "ledger.billing.billing_terms_change_reject": Call(
        lambda w: _billing("billing_terms_change_reject")(
            actor=w.staff(group="platform_admin"), change=_terms_change_pending(w))),
    # accounts.credit.services
    "accounts.credit.services.four_eyes_threshold": Exempt("reads a setting"),
    "accounts.credit.services.application_inputs": Exempt("read (decision inputs)"),
    "accounts.credit.services.audit_principal": Exempt("pure: an actor's audit identity"),
    "accounts.credit.services.credit_decision_replay": Exempt(
        "recomputes a stored decision in memory; writes nothing"),
    "accounts.credit.services.credit_application_create": Call(
        lambda w: _credit_application(w)),
    "accounts.credit.services.credit_application_decide": Call(lambda w: _credit_decide(w)),
    "accounts.credit.services.credit_override_request": Call(
        lambda w: _credit("credit_override_request")(
            actor=w.staff("accounts.add_creditchangerequest"),
            application=_credit_application(w), outcome="decline", credit_limit=0,
            reason="manual review")),
    "accounts.credit.services.credit_limit_increase_request": Call(
        lambda w: _limit_request(w)),
    "accounts.credit.services.credit_change_approve": Call(
        lambda w: _credit("credit_change_approve")(
            actor=w.staff("accounts.approve_creditchangerequest"), request=_limit_request(w))),
    "accounts.credit.services.credit_change_reject": Call(
        lambda w: _credit("credit_change_reject")(
            actor=w.staff("accounts.approve_creditchangerequest"), request=_limit_request(w),
            note="no")),
    # fraud.services
    "fraud.services.entry_score": Exempt(
        "writes a FraudScore (derived, not audited) and, above the threshold, an alert with "
        "fraud.alert_opened: covered by tests/fraud (the score depends on the model)"),
    "fraud.services.alert_decide": Call(
        lambda w: _fraud("alert_decide")(actor=w.staff(group="support_agent"),
                                         alert_id=w.alert().pk, decision="false_positive",
                                         note="known merchant")),
    "fraud.services.dispute_open": Call(
        lambda w: _fraud("dispute_open")(actor=w.customer, entry_id=w.entry.pk,
                                         reason="not me")),
    "fraud.services.alert_cardholder_confirm": Call(
        lambda w: _fraud("alert_cardholder_confirm")(actor=w.customer, alert_id=w.alert().pk,
                                                     was_me=True)),
    # creditplatform.portal.services
    "creditplatform.portal.services.portal_session_register": Exempt(
        "session bookkeeping (PortalSession, not audited); the login is auth.login"),
    "creditplatform.portal.services.portal_session_forget": Exempt(
        "session bookkeeping; the logout is auth.logout"),
    "creditplatform.portal.services.user_sign_out_everywhere": Call(
        lambda w: _portal("user_sign_out_everywhere")(actor=w.customer, user=w.customer)),
    "creditplatform.portal.services.user_contact_update": Call(
        lambda w: _portal("user_contact_update")(actor=w.customer, user=w.customer,
                                                 email="new@example.org", first_name="A",
                                                 last_name="B")),
    "creditplatform.portal.services.totp_device_for": Exempt("read"),
    "creditplatform.portal.services.totp_secret_text": Exempt("pure formatting"),
    "creditplatform.portal.services.totp_provisioning_uri": Exempt("pure formatting"),
    "creditplatform.portal.services.totp_device_begin": Call(
        lambda w: _portal("totp_device_begin")(actor=w.customer, user=w.customer)),
    "creditplatform.portal.services.totp_device_confirm": Call(lambda w: _totp_confirm(w)),
    "creditplatform.portal.services.totp_device_remove": Call(lambda w: _totp_remove(w)),
    # creditplatform.webhooks.services
    "creditplatform.webhooks.services.endpoint_secrets": Exempt("read (decrypts for signing)"),
    "creditplatform.webhooks.services.event_body": Exempt("pure serialisation"),
    "creditplatform.webhooks.services.event_publish": Exempt(
        "outbox to partner: a copy of an already audited change (WebhookEvent not audited)"),
    "creditplatform.webhooks.services.delivery_attempt": Exempt(
        "transport: one HTTP attempt (WebhookDelivery/Attempt not audited)"),
    "creditplatform.webhooks.services.deliveries_sweep": Exempt(
        "batch driver of delivery_attempt"),
    "creditplatform.webhooks.services.endpoint_create": Call(lambda w: _endpoint(w)),
    "creditplatform.webhooks.services.endpoint_delete": Call(
        lambda w: _webhooks("endpoint_delete")(actor=ACTOR, endpoint=_endpoint(w).endpoint)),
    "creditplatform.webhooks.services.endpoint_rotate_secret": Call(
        lambda w: _webhooks("endpoint_rotate_secret")(actor=ACTOR,
                                                      endpoint=_endpoint(w).endpoint)),
    "creditplatform.webhooks.services.delivery_redeliver": Exempt(
        "needs a failed delivery from the outbox relay; records webhook.redelivered per "
        "delivery (covered by tests/webhooks)"),
    "fraud.services.notification_mark_read": Exempt(
        "display state (read_at) of a CardholderNotification, which is not audited "
        "(compliance.registrations.NOT_AUDITED)"),
    "fraud.services.ruleset_create_draft": Call(lambda w: _ruleset_draft(w)),
    "fraud.services.ruleset_update": Call(
        lambda w: (lambda m, rs: _fraud("ruleset_update")(actor=m, ruleset_id=rs.pk,
                                                          change_note="edit"))(
            *_ruleset_draft(w))),
    "fraud.services.ruleset_submit": Call(lambda w: _ruleset_pending(w)),
    "fraud.services.ruleset_approve": Call(
        lambda w: _fraud("ruleset_approve")(actor=w.staff("fraud.approve_ruleset"),
                                            ruleset_id=_ruleset_pending(w).pk, note="ok")),
    "fraud.services.ruleset_reject": Call(
        lambda w: _fraud("ruleset_reject")(actor=w.staff("fraud.approve_ruleset"),
                                           ruleset_id=_ruleset_pending(w).pk, note="no")),
}


def _high_water() -> tuple[int, int]:
    return (LogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0,
            AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0)


@pytest.mark.parametrize("name", public_functions())
def test_every_service_writes_an_audit_row(name: str) -> None:
    row = SERVICES.get(name)
    if row is None:
        pytest.fail(f"service {name} has no row in tests/compliance/test_audit_coverage.py "
                    "SERVICES: add how to call it (Call) or why it writes nothing audited "
                    "(Exempt)")
    if isinstance(row, Exempt):
        assert row.reason.strip(), f"{name}: an exemption needs a reason"
        return
    world = World()
    log_before, event_before = _high_water()
    row.run(world)
    new_logs = LogEntry.objects.filter(id__gt=log_before).count()
    new_events = AuditEvent.objects.filter(id__gt=event_before).count()
    assert new_logs + new_events > 0, f"{name} changed state without an audit row"


def test_table_has_no_stale_rows() -> None:
    """A row for a service that no longer exists is a sign the table drifted."""
    assert sorted(set(SERVICES) - set(public_functions())) == []


def test_every_model_is_audited_or_exempted() -> None:
    missing, unregistered = [], []
    for app in APPS:
        for model in apps.get_app_config(app).get_models():
            if model._meta.proxy:
                continue  # a view of a model audited under its own label
            label = f"{model._meta.app_label}.{model.__name__}"
            if label in NOT_AUDITED:
                continue
            if label not in AUDITED:
                missing.append(label)
            elif not auditlog.contains(model):
                unregistered.append(label)
    assert missing == [], ("models neither in compliance.registrations.AUDITED nor NOT_AUDITED: "
                           f"{missing}")
    assert unregistered == []
    assert auditlog.contains(Group)


def test_card_changes_are_logged_with_sensitive_fields_masked_or_excluded() -> None:
    world = World()
    accounts_services.card_freeze(actor=world.customer, card=world.card, reason="lost")
    entries = LogEntry.objects.get_for_object(world.card)
    assert entries.exists()
    for entry in entries:
        assert "pan_encrypted" not in entry.changes_dict and "pan_index" not in entry.changes_dict
    user_entry = LogEntry.objects.get_for_object(world.customer).first()
    user_entry_text = str(user_entry.changes_dict)
    assert "password" not in user_entry.changes_dict
    # emails are identity: masked to the last 4 characters
    world.customer.email = "someone@example.org"
    world.customer.save()
    latest = LogEntry.objects.get_for_object(world.customer).order_by("-id").first()
    assert latest.changes_dict["email"][1] == "*" * 15 + ".org", latest.changes_dict
    assert "someone" not in user_entry_text + str(latest.changes_dict)


def test_role_membership_changes_are_logged_and_are_security_events() -> None:
    world = World()
    officer_group = Group.objects.get(name="compliance_officer")
    user = UserFactory(is_staff=True)
    before = AuditEvent.objects.count()
    user.groups.add(officer_group)
    event = AuditEvent.objects.filter(event_type="role.changed").order_by("-id").first()
    assert AuditEvent.objects.count() > before
    assert event.object_id == str(user.pk) and event.details["values"] == ["compliance_officer"]
    assert event.details["op"] == "added"
    m2m = LogEntry.objects.get_for_object(user).order_by("-id").first()
    assert "groups" in m2m.changes_dict
    officer_group.user_set.remove(user)  # reverse side
    removed = AuditEvent.objects.filter(event_type="role.changed").order_by("-id").first()
    assert removed.details["op"] == "removed" and removed.object_id == str(user.pk)
    perm = Permission.objects.get(codename="view_auditevent")
    officer_group.permissions.remove(perm)
    group_event = AuditEvent.objects.filter(event_type="role.changed",
                                            object_type="auth.group").order_by("-id").first()
    assert group_event.details == {"field": "permissions", "op": "removed",
                                   "values": ["compliance.view_auditevent"]}
    assert world.card.status == Card.Status.ACTIVE


#: ``QuerySet.update()`` without an audit record in the same function, with the reason.
SILENT_UPDATES_ALLOWED: dict[str, str] = {
    "ledger.services._save_balances": "balances: the ledger is its own trail (module doc)",
}


def _queryset_updates(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """``(function, line, records_audit)`` for each ``<queryset>.update(...)`` call."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute)]
        records = any(c.func.attr == "record" and isinstance(c.func.value, ast.Name)
                      and c.func.value.id == "audit" for c in calls)
        for call in calls:
            receiver = call.func.value
            if call.func.attr == "update" and isinstance(receiver, ast.Call) and isinstance(
                    receiver.func, ast.Attribute) and receiver.func.attr in (
                    "filter", "exclude", "all", "select_for_update"):
                found.append((fn.name, call.lineno, records))
    return found


def test_no_silent_queryset_update_in_services() -> None:
    """Static companion of the walker: a bulk ``.update()`` bypasses django-auditlog, so the
    function doing it must record an AuditEvent itself (or be listed with its reason)."""
    silent = []
    for module_name in service_modules():
        path = ROOT / (module_name.replace(".", "/") + ".py")
        for fn, line, records in _queryset_updates(ast.parse(path.read_text())):
            if not records and f"{module_name}.{fn}" not in SILENT_UPDATES_ALLOWED:
                silent.append(f"{module_name}.{fn} (line {line})")
    assert silent == [], f"QuerySet.update() without an audit record: {silent}"


def test_silent_update_detector_flags_an_unrecorded_update() -> None:
    code = ("def quiet(x):\n    Card.objects.filter(pk=x).update(status='frozen')\n"
            "def loud(x):\n    Card.objects.filter(pk=x).update(status='frozen')\n"
            "    audit.record('card.frozen', actor=None)\n")
    assert sorted((fn, rec) for fn, _, rec in _queryset_updates(ast.parse(code))) == [
        ("loud", True), ("quiet", False)]
