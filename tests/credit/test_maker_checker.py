"""Maker-checker: manual overrides and large limit increases need a second person."""

from __future__ import annotations

import pytest

from accounts.credit import services
from accounts.credit.models import CreditChangeRequest
from accounts.models import CreditAccount
from compliance.models import AuditEvent
from tests.credit.conftest import RISKY, application_data, staff_with, with_history

pytestmark = pytest.mark.django_db
MAKER = "accounts.add_creditchangerequest"
CHECKER = "accounts.approve_creditchangerequest"


@pytest.fixture
def declined(applicant):
    app = services.credit_application_create(actor=applicant, applicant=applicant,
                                             decide=False, **application_data())
    with_history(app, RISKY)
    services.credit_application_decide(actor=applicant, application=app)
    app.refresh_from_db()
    assert app.status == "declined"
    return app


def test_override_needs_a_different_person_with_the_permission(declined):
    maker = staff_with(MAKER, CHECKER)
    req = services.credit_override_request(actor=maker, application=declined,
                                           outcome="approve", credit_limit=100_000,
                                           reason="verified income documents")
    with pytest.raises(services.SelfApprovalRefused):
        services.credit_change_approve(actor=maker, request=req)
    assert AuditEvent.objects.filter(event_type="credit.change_self_approval",
                                     outcome="denied").exists()
    with pytest.raises(services.CreditPermissionDenied):
        services.credit_change_approve(actor=staff_with(MAKER), request=req)
    declined.refresh_from_db()
    assert declined.status == "declined" and declined.decisions.count() == 1

    checker = staff_with(CHECKER)
    services.credit_change_approve(actor=checker, request=req, note="ok")
    req.refresh_from_db()
    declined.refresh_from_db()
    assert (req.status, req.decided_by_id) == ("approved", checker.pk)
    d = declined.latest_decision
    assert (d.source, d.outcome, d.credit_limit, d.override_request_id) == (
        "override", "approve", 100_000, req.pk)
    assert declined.status == "approved"
    assert services.credit_decision_replay(decision=d).same
    with pytest.raises(services.RequestNotPending):
        services.credit_change_approve(actor=checker, request=req)
    assert AuditEvent.objects.filter(event_type="credit.change_approved",
                                     object_id=str(req.pk)).exists()


def test_override_request_needs_maker_permission(declined, applicant):
    with pytest.raises(services.CreditPermissionDenied):
        services.credit_override_request(actor=applicant, application=declined,
                                         outcome="approve", credit_limit=1, reason="me")


def test_small_limit_increase_applies_at_once_large_one_waits(applicant):
    account = applicant.credit_accounts.get()
    start = account.credit_limit
    maker, checker = staff_with(MAKER, CHECKER), staff_with(CHECKER)
    threshold = services.four_eyes_threshold()
    small = services.credit_limit_increase_request(actor=maker, account=account,
                                                   new_limit=start + threshold, reason="r")
    assert small.status == "approved" and small.decided_by is None
    assert CreditAccount.objects.get(pk=account.pk).credit_limit == start + threshold

    big = services.credit_limit_increase_request(
        actor=maker, account=account, new_limit=start + 2 * threshold + 1, reason="r")
    assert big.status == CreditChangeRequest.Status.PENDING
    assert CreditAccount.objects.get(pk=account.pk).credit_limit == start + threshold
    with pytest.raises(services.SelfApprovalRefused):
        services.credit_change_approve(actor=maker, request=big)
    services.credit_change_reject(actor=checker, request=big, note="no")
    assert CreditAccount.objects.get(pk=account.pk).credit_limit == start + threshold

    again = services.credit_limit_increase_request(
        actor=maker, account=account, new_limit=start + 2 * threshold + 1, reason="r")
    services.credit_change_approve(actor=checker, request=again)
    assert CreditAccount.objects.get(pk=account.pk).credit_limit == start + 2 * threshold + 1
    assert AuditEvent.objects.filter(event_type="account.limit_changed").count() == 2


def test_database_refuses_self_decided_request(declined):
    """The four-eyes rule is also a CHECK constraint (last line of defence)."""
    from django.db import IntegrityError, transaction

    maker = staff_with(MAKER)
    req = services.credit_override_request(actor=maker, application=declined,
                                           outcome="refer", credit_limit=0, reason="r")
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditChangeRequest.objects.filter(pk=req.pk).update(decided_by=maker)


def test_two_platform_admins_are_maker_and_checker_by_role_alone(declined):
    """The ``platform_admin`` role (accounts/roles.py, synced after migrate) holds both sides;
    the four-eyes rule, not the role, keeps one admin from approving their own request."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    role = Group.objects.get(name="platform_admin")
    maker, checker = UserFactory(is_staff=True), UserFactory(is_staff=True)
    for admin in (maker, checker):
        admin.groups.add(role)
    req = services.credit_override_request(actor=maker, application=declined,
                                           outcome="approve", credit_limit=50_000,
                                           reason="income verified")
    with pytest.raises(services.SelfApprovalRefused):
        services.credit_change_approve(actor=maker, request=req)
    services.credit_change_approve(actor=checker, request=req, note="ok")
    declined.refresh_from_db()
    assert declined.status == "approved"
