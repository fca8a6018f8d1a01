"""Rules and thresholds: versioned, maker-checker, read through a cached ``active_rules``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

from compliance.models import AuditEvent
from fraud import rules, services
from fraud.exceptions import (
    FraudPermissionDenied,
    InvalidRuleSet,
    RuleSetStateError,
    SelfApprovalRefused,
    ValidationError,
)
from fraud.models import RuleSet
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def staff(role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def maker():
    return staff("platform_admin")


@pytest.fixture
def checker():
    return staff("platform_admin")


def approved(maker, checker, capture, **values):
    rs = services.ruleset_create_draft(actor=maker, **values)
    services.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    with capture(execute=True):
        services.ruleset_approve(actor=checker, ruleset_id=rs.pk)
    rs.refresh_from_db()
    return rs


@override_settings(FRAUD_RULES={"velocity_max_count": 3, "risky_merchants": ["m-bad"]},
                   FRAUD_ALERT_THRESHOLD=0.4, FRAUD_FREEZE_THRESHOLD=0.8)
def test_without_an_active_version_the_settings_apply():
    r = rules.active_rules()
    assert r["version"] is None
    assert r["velocity_max_count"] == 3
    assert r["velocity_window_seconds"] == rules.PREAUTH_DEFAULTS["velocity_window_seconds"]
    assert "m-bad" in r["risky_merchants"]
    assert (r["alert_threshold"], r["freeze_threshold"]) == (0.4, 0.8)


def test_approval_by_a_second_person_activates_the_version(maker, checker,
                                                           django_capture_on_commit_callbacks):
    rs = services.ruleset_create_draft(actor=maker, params={"velocity_max_count": 2},
                                       risky_merchants=["shady-terminal"],
                                       change_note="tighter velocity")
    assert rs.status == RuleSet.Status.DRAFT
    assert rules.active_rules()["velocity_max_count"] != 2  # a draft changes nothing
    services.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    assert rules.active_rules()["version"] is None  # nor does a submitted version
    with pytest.raises(SelfApprovalRefused):
        services.ruleset_approve(actor=maker, ruleset_id=rs.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.ruleset_approve(actor=checker, ruleset_id=rs.pk, note="ok")
    rs.refresh_from_db()
    assert rs.status == RuleSet.Status.ACTIVE and rs.decided_by == checker
    r = rules.active_rules()
    assert r["version"] == rs.pk
    assert r["velocity_max_count"] == 2
    assert r["risky_merchants"] == frozenset({"shady-terminal"})
    events = list(AuditEvent.objects.filter(object_type="ruleset", object_id=str(rs.pk))
                  .values_list("event_type", "actor_id"))
    assert ("fraud.rules.submitted", str(maker.pk)) in events
    assert ("fraud.rules.approved", str(checker.pk)) in events


def test_a_new_approval_supersedes_the_active_version(maker, checker,
                                                      django_capture_on_commit_callbacks):
    first = approved(maker, checker, django_capture_on_commit_callbacks,
                     params={"history_ratio": 4.0})
    second = approved(checker, maker, django_capture_on_commit_callbacks,  # roles swapped
                      alert_threshold=0.3)
    first.refresh_from_db()
    assert first.status == RuleSet.Status.SUPERSEDED and first.superseded_at is not None
    r = rules.active_rules()
    assert r["version"] == second.pk and r["alert_threshold"] == 0.3
    assert r["history_ratio"] == 4.0  # a new draft starts from the version in force
    assert RuleSet.objects.filter(status=RuleSet.Status.ACTIVE).count() == 1


def test_only_drafts_change_and_only_by_their_maker(maker, checker,
                                                    django_capture_on_commit_callbacks):
    rs = services.ruleset_create_draft(actor=maker)
    with pytest.raises(FraudPermissionDenied):
        services.ruleset_update(actor=checker, ruleset_id=rs.pk, alert_threshold=0.1)
    with pytest.raises(FraudPermissionDenied):
        services.ruleset_submit(actor=checker, ruleset_id=rs.pk)
    services.ruleset_update(actor=maker, ruleset_id=rs.pk, alert_threshold=0.45)
    services.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    with pytest.raises(RuleSetStateError):
        services.ruleset_update(actor=maker, ruleset_id=rs.pk, alert_threshold=0.2)
    with django_capture_on_commit_callbacks(execute=True):
        services.ruleset_approve(actor=checker, ruleset_id=rs.pk)
    with pytest.raises(RuleSetStateError):  # active versions are immutable
        services.ruleset_update(actor=maker, ruleset_id=rs.pk, alert_threshold=0.2)
    with pytest.raises(RuleSetStateError):  # and cannot be approved again
        services.ruleset_approve(actor=checker, ruleset_id=rs.pk)
    assert RuleSet.objects.get(pk=rs.pk).alert_threshold == 0.45


def test_reject_needs_a_note_and_a_second_person(maker, checker):
    rs = services.ruleset_create_draft(actor=maker, alert_threshold=0.2)
    services.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    with pytest.raises(SelfApprovalRefused):
        services.ruleset_reject(actor=maker, ruleset_id=rs.pk, note="no")
    with pytest.raises(ValidationError):
        services.ruleset_reject(actor=checker, ruleset_id=rs.pk, note="   ")
    services.ruleset_reject(actor=checker, ruleset_id=rs.pk, note="too many alerts")
    rs.refresh_from_db()
    assert rs.status == RuleSet.Status.REJECTED and rs.decision_note == "too many alerts"
    assert rules.active_rules()["version"] is None
    assert AuditEvent.objects.filter(event_type="fraud.rules.rejected",
                                     object_id=str(rs.pk)).exists()


def test_approval_needs_the_permission(maker):
    agent = staff("support_agent")
    rs = services.ruleset_create_draft(actor=maker)
    services.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    with pytest.raises(FraudPermissionDenied):
        services.ruleset_approve(actor=agent, ruleset_id=rs.pk)
    with pytest.raises(FraudPermissionDenied):
        services.ruleset_create_draft(actor=agent)


@pytest.mark.parametrize("values", [
    {"alert_threshold": 0.9, "freeze_threshold": 0.5},
    {"params": {"velocity_max_count": 0}},
    {"params": {"velocity_max_count": 2.5}},
    {"params": {"no_such_rule": 1}},
    {"risky_merchants": ["ok", ""]},
    {"review_threshold": 0.5, "decline_threshold": 0.1},
    {"alert_threshold": 1.5, "freeze_threshold": 1.5},
])
def test_invalid_values_are_refused(maker, values):
    with pytest.raises(InvalidRuleSet):
        services.ruleset_create_draft(actor=maker, **values)
    assert not RuleSet.objects.exists()


def test_active_rules_are_cached_until_the_next_approval(maker, checker,
                                                         django_capture_on_commit_callbacks,
                                                         django_assert_num_queries):
    rs = approved(maker, checker, django_capture_on_commit_callbacks,
                  params={"card_testing_max_small": 7})
    assert rules.active_rules()["card_testing_max_small"] == 7
    with django_assert_num_queries(0):
        assert rules.active_rules()["card_testing_max_small"] == 7
    rules.active_rules()["card_testing_max_small"] = 99  # callers get a copy
    assert rules.active_rules()["card_testing_max_small"] == 7
    nxt = approved(checker, maker, django_capture_on_commit_callbacks,
                   params={"card_testing_max_small": 3})
    assert rules.active_rules()["card_testing_max_small"] == 3
    assert rules.active_rules()["version"] == nxt.pk != rs.pk


def test_pre_authorization_applies_the_approved_version(maker, checker, customer,
                                                        django_capture_on_commit_callbacks):
    from ledger import services as ledger

    account = customer.credit_accounts.get()

    def charge():
        return ledger.charge_create(actor=customer, account_id=account.pk, amount=1_000,
                                    currency="EUR", merchant="bad-terminal").entry

    assert charge().fraud_decision == "approve"
    draft = services.ruleset_create_draft(actor=maker, risky_merchants=["bad-terminal"])
    services.ruleset_submit(actor=maker, ruleset_id=draft.pk)
    assert charge().fraud_decision == "approve"  # not in force before the second person
    with django_capture_on_commit_callbacks(execute=True):
        services.ruleset_approve(actor=checker, ruleset_id=draft.pk)
    entry = charge()
    assert entry.fraud_decision == "review" and "merchant_risk_list" in entry.fraud_reasons
