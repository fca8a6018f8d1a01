"""card_freeze / card_unfreeze: status change, audit event, closed cards refused."""

from __future__ import annotations

import pytest

from accounts.models import Card
from accounts.services import card_freeze, card_unfreeze
from compliance.models import AuditEvent
from creditplatform.errors import ApplicationError
from tests.factories import add_card

pytestmark = pytest.mark.django_db


def test_freeze_and_unfreeze_are_audited(customer):
    card = add_card(customer)
    card_freeze(actor=customer, card=card, reason="lost")
    assert Card.objects.get(pk=card.pk).status == Card.Status.FROZEN
    card_freeze(actor=customer, card=card, reason="again")  # idempotent
    assert Card.objects.get(pk=card.pk).status == Card.Status.FROZEN
    card_unfreeze(actor=customer, card=card, reason="found")
    assert Card.objects.get(pk=card.pk).status == Card.Status.ACTIVE
    events = list(AuditEvent.objects.filter(object_id=str(card.pk))
                  .exclude(event_type="card.created").order_by("id")
                  .values_list("event_type", "details"))
    assert [e for e, _ in events] == ["card.frozen", "card.frozen", "card.unfrozen"]
    assert [d["changed"] for _, d in events] == [True, False, True]


def test_closed_card_cannot_be_unfrozen(customer):
    card = add_card(customer)
    Card.objects.filter(pk=card.pk).update(status=Card.Status.CLOSED)
    with pytest.raises(ApplicationError) as err:
        card_unfreeze(actor=customer, card=card, reason="x")
    assert err.value.code == "card_closed"
    assert Card.objects.get(pk=card.pk).status == Card.Status.CLOSED
