"""The support queue's decisions: mandatory note, audited, fed back as a label; nobody decides
an alert on their own account; closed alerts stay closed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from compliance.models import AuditEvent
from fraud import selectors, services
from fraud.exceptions import (
    AlertClosed,
    FraudPermissionDenied,
    NotFoundError,
    OwnAccountRefused,
    ValidationError,
)
from fraud.models import Alert, FraudLabel
from ledger import services as ledger
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff(role: str, user=None):
    user = user or UserFactory(is_staff=True)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=role))
    return user


def make_alert(user, amount=2_000, score=0.7) -> Alert:
    """An alert on ``user``'s charge, as the scorer opens it (Celery does not run here: the
    test transaction never commits)."""
    account = user.credit_accounts.get()
    entry = ledger.charge_create(actor=user, account_id=account.pk, amount=amount,
                                 currency="EUR", merchant="m-1").entry
    return Alert.objects.create(entry=entry, account=account, score=score,
                                reasons=["amount_above_history"])


@pytest.fixture
def agent():
    return staff("support_agent")


def test_a_decision_needs_a_note(customer, agent):
    alert = make_alert(customer)
    for note in ("", "   \n"):
        with pytest.raises(ValidationError) as exc:
            services.alert_decide(actor=agent, alert_id=alert.pk, decision="confirm_fraud",
                                  note=note)
        assert exc.value.code == "note_required"
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN
    assert not FraudLabel.objects.exists()


def test_confirm_fraud_closes_audits_and_labels(customer, agent):
    alert = make_alert(customer)
    services.alert_decide(actor=agent, alert_id=alert.pk, decision="confirm_fraud",
                          note="cardholder confirmed by phone the card was stolen")
    alert.refresh_from_db()
    assert alert.status == Alert.Status.CONFIRMED_FRAUD and alert.decided_by == agent
    assert "stolen" in alert.note
    label = FraudLabel.objects.get(entry=alert.entry)
    assert label.is_fraud is True and label.source == "support"
    assert label.known_at == alert.decided_at and label.created_by == agent
    ev = AuditEvent.objects.get(event_type="fraud.alert.decided", object_id=str(alert.pk))
    assert ev.actor_id == str(agent.pk)
    assert ev.details["decision"] == "confirm_fraud" and "stolen" in ev.details["note"]
    with pytest.raises(AlertClosed):
        services.alert_decide(actor=agent, alert_id=alert.pk, decision="false_positive",
                              note="changed my mind")
    assert FraudLabel.objects.filter(entry=alert.entry).count() == 1


def test_false_positive_labels_genuine_and_escalate_labels_nothing(customer, agent):
    fp, esc = make_alert(customer), make_alert(customer, amount=3_000)
    services.alert_decide(actor=agent, alert_id=fp.pk, decision="false_positive",
                          note="regular merchant, usual amount")
    assert FraudLabel.objects.get(entry=fp.entry).is_fraud is False
    services.alert_decide(actor=agent, alert_id=esc.pk, decision="escalate",
                          note="needs the fraud team")
    esc.refresh_from_db()
    assert esc.status == Alert.Status.ESCALATED
    assert not FraudLabel.objects.filter(entry=esc.entry).exists()
    assert esc in selectors.alert_queue()  # escalated cases stay in the queue
    services.alert_decide(actor=agent, alert_id=esc.pk, decision="confirm_fraud",
                          note="fraud team: confirmed")
    esc.refresh_from_db()
    assert esc.status == Alert.Status.CONFIRMED_FRAUD
    assert "needs the fraud team" in esc.note and "confirmed" in esc.note


def test_nobody_decides_an_alert_on_their_own_account(agent):
    CustomerFactory(username="agent-card")
    from accounts.models import User

    holder = User.objects.get(username="agent-card")
    own = staff("support_agent", holder)
    alert = make_alert(own)
    with pytest.raises(OwnAccountRefused):
        services.alert_decide(actor=own, alert_id=alert.pk, decision="false_positive",
                              note="that was me")
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN and not FraudLabel.objects.exists()
    services.alert_decide(actor=agent, alert_id=alert.pk, decision="false_positive",
                          note="colleague checked")  # another agent may
    alert.refresh_from_db()
    assert alert.status == Alert.Status.FALSE_POSITIVE


def test_deciding_needs_the_permission(customer):
    officer = staff("compliance_officer")
    other = CustomerFactory()
    alert = make_alert(customer)
    for actor in (officer, other):
        with pytest.raises(FraudPermissionDenied):
            services.alert_decide(actor=actor, alert_id=alert.pk, decision="false_positive",
                                  note="x")


def test_unknown_alert_or_decision(customer, agent):
    import uuid

    with pytest.raises(NotFoundError):
        services.alert_decide(actor=agent, alert_id=uuid.uuid4(), decision="escalate", note="x")
    with pytest.raises(NotFoundError):
        services.alert_decide(actor=agent, alert_id="not-a-uuid", decision="escalate", note="x")
    alert = make_alert(customer)
    with pytest.raises(ValidationError):
        services.alert_decide(actor=agent, alert_id=alert.pk, decision="approve", note="x")


def test_a_pan_in_a_note_is_not_stored(customer, agent):
    alert = make_alert(customer)
    services.alert_decide(actor=agent, alert_id=alert.pk, decision="escalate",
                          note="customer read out 4111 1111 1111 1111 on the phone")
    alert.refresh_from_db()
    assert "4111 1111 1111 1111" not in alert.note
    ev = AuditEvent.objects.get(event_type="fraud.alert.decided")
    assert "4111 1111 1111 1111" not in str(ev.details)
