"""The portal's fraud services: disputes and "Was this you?" on one's own charges only."""

from __future__ import annotations

import uuid

import pytest

from compliance.models import AuditEvent
from fraud import selectors, services
from fraud.exceptions import NotFoundError, ValidationError
from fraud.models import Alert, FraudLabel
from ledger import services as ledger
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def charge(user, amount=2_500):
    account = user.credit_accounts.get()
    return ledger.charge_create(actor=user, account_id=account.pk, amount=amount,
                                currency="EUR", merchant="m-7").entry


def test_a_dispute_opens_a_case_in_the_support_queue(customer, django_capture_on_commit_callbacks):
    from fraud import signals

    got = []
    signals.alert_opened.connect(lambda sender, **kw: got.append(kw), dispatch_uid="t-d",
                                 weak=False)
    try:
        entry = charge(customer)
        with django_capture_on_commit_callbacks(execute=True):
            alert = services.dispute_open(actor=customer, entry_id=entry.pk,
                                          reason="I was at home, never bought this")
    finally:
        signals.alert_opened.disconnect(dispatch_uid="t-d")
    assert alert.source == Alert.Source.DISPUTE and alert.status == Alert.Status.OPEN
    assert "cardholder_dispute" in alert.reasons and alert.disputed_at is not None
    assert alert in selectors.alert_queue()
    assert list(selectors.alert_list_for_cardholder(actor=customer)) == [alert]
    assert AuditEvent.objects.filter(event_type="fraud.dispute.opened",
                                     actor_id=str(customer.pk)).count() == 1
    assert [kw["alert_id"] for kw in got] == [alert.pk]
    again = services.dispute_open(actor=customer, entry_id=entry.pk, reason="again")
    assert again.pk == alert.pk and Alert.objects.count() == 1


def test_someone_elses_charge_cannot_be_disputed():
    owner, other = CustomerFactory(), CustomerFactory()
    entry = charge(owner)
    for entry_id in (entry.pk, uuid.uuid4(), "../../etc"):
        with pytest.raises(NotFoundError):
            services.dispute_open(actor=other, entry_id=entry_id, reason="not mine")
    assert not Alert.objects.exists()
    assert list(selectors.alert_list_for_cardholder(actor=other)) == []


def test_a_dispute_needs_a_reason(customer):
    entry = charge(customer)
    with pytest.raises(ValidationError):
        services.dispute_open(actor=customer, entry_id=entry.pk, reason="  ")


def test_a_dispute_on_a_decided_alert_reopens_it(customer):
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    entry = charge(customer)
    alert = Alert.objects.create(entry=entry, account=entry.account, score=0.8,
                                 reasons=["model_review"])
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="support_agent"))
    services.alert_decide(actor=agent, alert_id=alert.pk, decision="false_positive",
                          note="looked normal")
    disputed = services.dispute_open(actor=customer, entry_id=entry.pk, reason="not me")
    assert disputed.pk == alert.pk
    assert disputed.status == Alert.Status.ESCALATED and disputed.source == "model"
    assert disputed.reasons == ["model_review", "cardholder_dispute"]


def test_was_this_you_answer_becomes_a_label(customer):
    entry = charge(customer)
    alert = Alert.objects.create(entry=entry, account=entry.account, score=0.8, reasons=[])
    answered = services.alert_cardholder_confirm(actor=customer, alert_id=alert.pk,
                                                 was_me=False)
    assert answered.cardholder_answer == "not_me"
    assert answered.status == Alert.Status.ESCALATED  # the cardholder denies: escalate
    label = FraudLabel.objects.get(entry=entry)
    assert label.is_fraud is True and label.source == "cardholder"
    assert label.known_at == answered.answered_at
    with pytest.raises(ValidationError) as exc:
        services.alert_cardholder_confirm(actor=customer, alert_id=alert.pk, was_me=True)
    assert exc.value.code == "already_answered" and exc.value.status == 409
    assert AuditEvent.objects.filter(event_type="fraud.alert.cardholder_answered").count() == 1


def test_was_me_labels_genuine_and_keeps_the_status(customer):
    entry = charge(customer)
    alert = Alert.objects.create(entry=entry, account=entry.account, score=0.8, reasons=[])
    services.alert_cardholder_confirm(actor=customer, alert_id=alert.pk, was_me=True)
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN and alert.cardholder_answer == "was_me"
    assert FraudLabel.objects.get(entry=entry).is_fraud is False


def test_only_ones_own_alert_can_be_answered():
    owner, other = CustomerFactory(), CustomerFactory()
    entry = charge(owner)
    alert = Alert.objects.create(entry=entry, account=entry.account, score=0.8, reasons=[])
    with pytest.raises(NotFoundError):
        services.alert_cardholder_confirm(actor=other, alert_id=alert.pk, was_me=True)
    with pytest.raises(NotFoundError):
        selectors.alert_get_for_cardholder(actor=other, alert_id=alert.pk)
    alert.refresh_from_db()
    assert alert.cardholder_answer == "" and not FraudLabel.objects.exists()


def test_notifications_are_the_cardholders_own():
    from fraud.models import CardholderNotification

    owner, other = CustomerFactory(), CustomerFactory()
    note = CardholderNotification.objects.create(account=owner.credit_accounts.get(),
                                                 kind="card_frozen", message="frozen")
    assert list(selectors.notification_list_for_cardholder(actor=other)) == []
    with pytest.raises(NotFoundError):
        services.notification_mark_read(actor=other, notification_id=note.pk)
    assert list(selectors.notification_list_for_cardholder(actor=owner)) == [note]
    first = services.notification_mark_read(actor=owner, notification_id=note.pk).read_at
    assert first is not None
    assert services.notification_mark_read(actor=owner, notification_id=note.pk).read_at == first
