"""After scoring: an alert above the alert threshold, and above the freeze threshold a frozen
card, a cardholder notification and the signals, sent only after commit."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import Card
from compliance.models import AuditEvent
from fraud import signals
from fraud.models import Alert, CardholderNotification, FraudScore
from ledger import services as ledger
from tests.factories import add_card

pytestmark = pytest.mark.django_db

# A 500.00 EUR charge scores at least 0.9 (the scorecard's large_amount signal is a floor under
# the model, fraud.model); 15.00 EUR on a fresh account scores far below 0.5.
LARGE, SMALL = 50_000, 1_500


@pytest.fixture
def received():
    """Signals received: (name, kwargs) in order."""
    got: list[tuple[str, dict]] = []

    def on_alert(sender, **kw):
        got.append(("alert_opened", kw))

    def on_frozen(sender, **kw):
        got.append(("card_frozen", kw))

    signals.alert_opened.connect(on_alert, dispatch_uid="test-alert")
    signals.card_frozen.connect(on_frozen, dispatch_uid="test-frozen")
    yield got
    signals.alert_opened.disconnect(dispatch_uid="test-alert")
    signals.card_frozen.disconnect(dispatch_uid="test-frozen")


def charge(user, card, amount, capture):
    account = user.credit_accounts.get()
    with capture(execute=True):  # commit: the eager Celery task scores the entry
        return ledger.charge_create(actor=user, account_id=account.pk, amount=amount,
                                    currency="EUR", card_id=card.pk, merchant="shop-1").entry


@override_settings(FRAUD_ALERT_THRESHOLD=0.5, FRAUD_FREEZE_THRESHOLD=0.85)
def test_above_the_freeze_threshold_the_card_is_frozen_and_the_cardholder_told(
        customer, received, django_capture_on_commit_callbacks):
    card = add_card(customer)
    entry = charge(customer, card, LARGE, django_capture_on_commit_callbacks)
    score = FraudScore.objects.get(entry=entry)
    assert score.score >= 0.85
    alert = Alert.objects.get(entry=entry)
    card.refresh_from_db()
    assert card.status == Card.Status.FROZEN
    note = CardholderNotification.objects.get(account__owner=customer)
    assert note.kind == "card_frozen" and note.alert == alert and note.card == card
    assert card.last4 in note.message and "4111111111111111" not in note.message
    events = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert {"fraud.alert_opened", "card.frozen", "cardholder.notified"} <= events
    assert ("alert_opened", {"alert_id": alert.pk, "source": "model",
                             "signal": signals.alert_opened}) in received
    assert ("card_frozen", {"card_id": card.pk, "alert_id": alert.pk,
                            "signal": signals.card_frozen}) in received
    assert score.latency_ms >= 0 and score.scored_at >= entry.created_at


@override_settings(FRAUD_ALERT_THRESHOLD=0.5, FRAUD_FREEZE_THRESHOLD=0.85)
def test_signals_wait_for_the_commit(customer, received, django_capture_on_commit_callbacks):
    from fraud.services import entry_score

    card = add_card(customer)
    account = customer.credit_accounts.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        entry = ledger.charge_create(actor=customer, account_id=account.pk, amount=LARGE,
                                     currency="EUR", card_id=card.pk).entry
        # scored inside a transaction that has not committed yet: nothing is sent
        with django_capture_on_commit_callbacks(execute=False) as inner:
            entry_score(entry_id=entry.pk)
        assert received == []
    assert Alert.objects.filter(entry=entry).exists()
    for cb in inner:
        cb()
    assert [name for name, _ in received] == ["alert_opened", "card_frozen"]
    assert callbacks  # the ledger's own on-commit work was queued too


@override_settings(FRAUD_ALERT_THRESHOLD=0.5, FRAUD_FREEZE_THRESHOLD=0.99)
def test_between_the_thresholds_an_alert_but_no_freeze(
        customer, received, django_capture_on_commit_callbacks):
    card = add_card(customer)
    entry = charge(customer, card, LARGE, django_capture_on_commit_callbacks)
    alert = Alert.objects.get(entry=entry)
    assert alert.score < 0.99  # (the scorecard floor is 0.9; the model agrees it is unusual)
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert not CardholderNotification.objects.exists()
    from fraud.selectors import alert_list_for_cardholder  # the portal asks "was this you?"

    assert list(alert_list_for_cardholder(actor=customer)) == [alert]
    assert [name for name, _ in received] == ["alert_opened"]


@override_settings(FRAUD_ALERT_THRESHOLD=0.5, FRAUD_FREEZE_THRESHOLD=0.85)
def test_a_small_charge_opens_nothing_and_scoring_twice_freezes_once(
        customer, received, django_capture_on_commit_callbacks):
    from fraud.services import entry_score

    card = add_card(customer)
    small = charge(customer, card, SMALL, django_capture_on_commit_callbacks)
    assert not Alert.objects.filter(entry=small).exists()
    large = charge(customer, card, LARGE, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        entry_score(entry_id=large.pk)
    assert CardholderNotification.objects.filter(account__owner=customer).count() == 1
    assert AuditEvent.objects.filter(event_type="card.frozen").count() == 1
    assert [name for name, _ in received] == ["alert_opened", "card_frozen"]


def test_an_approved_rule_set_sets_the_thresholds(customer, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Group

    from fraud import services
    from tests.factories import UserFactory

    maker, checker = (UserFactory(is_staff=True), UserFactory(is_staff=True))
    for u in (maker, checker):
        u.groups.add(Group.objects.get(name="platform_admin"))
    rs = services.ruleset_create_draft(actor=maker, alert_threshold=0.5, freeze_threshold=0.85)
    services.ruleset_submit(actor=maker, ruleset_id=rs.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.ruleset_approve(actor=checker, ruleset_id=rs.pk)
    card = add_card(customer)
    with override_settings(FRAUD_FREEZE_THRESHOLD=0.99):  # the approved version wins
        charge(customer, card, LARGE, django_capture_on_commit_callbacks)
    card.refresh_from_db()
    assert card.status == Card.Status.FROZEN
    ev = AuditEvent.objects.get(event_type="fraud.alert_opened")
    assert ev.details["rules_version"] == rs.pk
