import datetime as dt

import pytest
from django.test import override_settings

from accounts.models import Card
from ledger import services
from ledger.exceptions import CardDeclined
from tests.factories import add_card

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def _charge(user, card, amount, minutes):
    acc = user.credit_accounts.get()
    return services.charge_create(actor=user, account_id=acc.pk, amount=amount, currency="EUR",
                                  card_id=card.pk, occurred_at=T0 + dt.timedelta(minutes=minutes))


def test_card_testing_burst_of_small_charges_declined(customer):
    card = add_card(customer)
    for i in range(5):
        _charge(customer, card, 100, i)
    with pytest.raises(CardDeclined) as err:
        _charge(customer, card, 100, 6)
    assert "card_testing" in err.value.extra["reasons"]
    _charge(customer, card, 5000, 7)  # a normal amount still goes through


def test_frozen_card_declined(customer):
    card = add_card(customer)
    Card.objects.filter(pk=card.pk).update(status=Card.Status.FROZEN)
    with pytest.raises(CardDeclined) as err:
        _charge(customer, card, 1000, 0)
    assert err.value.extra["reasons"] == ["card_frozen"]


@override_settings(FRAUD_RULES={"velocity_max_count": 3, "card_testing_max_small": 99})
def test_velocity_count_declined(customer):
    card = add_card(customer)
    for i in range(3):
        _charge(customer, card, 1000, i)
    with pytest.raises(CardDeclined) as err:
        _charge(customer, card, 1000, 3)
    assert "velocity_count" in err.value.extra["reasons"]


def test_amount_far_above_history_goes_to_review(customer):
    card = add_card(customer)
    for i in range(5):
        _charge(customer, card, 2000, i * 120)
    result = _charge(customer, card, 20_000, 5 * 120)
    assert result.fraud.decision == "review" and "amount_above_history" in result.fraud.reasons
