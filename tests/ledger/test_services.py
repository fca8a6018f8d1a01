import pytest
from django.db.models import Sum

from accounts.models import CreditAccount
from compliance.models import AuditEvent
from ledger import services
from ledger.exceptions import (
    CurrencyMismatch,
    InsufficientCredit,
    InvalidAmount,
    PaymentExceedsBalance,
)
from ledger.models import JournalEntry, Posting
from tests.factories import ACTOR

pytestmark = pytest.mark.django_db


def _account(user):
    return CreditAccount.objects.get(owner=user)


def test_charge_posts_balanced_entry_and_updates_balances(customer):
    acc = _account(customer)
    result = services.charge_create(actor=customer, account_id=acc.pk, amount=2500,
                                    currency="EUR", merchant="m1")
    acc.refresh_from_db()
    assert (acc.posted, acc.pending, acc.available) == (2500, 0, 97_500)
    postings = list(Posting.objects.filter(entry=result.entry).values_list("amount", flat=True))
    assert sorted(postings) == [-2500, 2500]
    assert AuditEvent.objects.filter(event_type="charge.posted",
                                     object_id=str(result.entry.pk)).exists()


def test_payment_reduces_posted_and_cannot_exceed_it(customer):
    acc = _account(customer)
    services.charge_create(actor=customer, account_id=acc.pk, amount=5000, currency="EUR")
    services.payment_create(actor=customer, account_id=acc.pk, amount=2000, currency="EUR")
    acc.refresh_from_db()
    assert acc.posted == 3000
    with pytest.raises(PaymentExceedsBalance):
        services.payment_create(actor=customer, account_id=acc.pk, amount=3001, currency="EUR")
    assert Posting.objects.aggregate(s=Sum("amount"))["s"] == 0


def test_insufficient_credit_writes_nothing(customer):
    acc = _account(customer)
    with pytest.raises(InsufficientCredit):
        services.charge_create(actor=customer, account_id=acc.pk, amount=100_001, currency="EUR")
    assert not JournalEntry.objects.exists()
    acc.refresh_from_db()
    assert acc.posted == 0


def test_currency_mismatch(customer):
    with pytest.raises(CurrencyMismatch):
        services.charge_create(actor=customer, account_id=_account(customer).pk, amount=1,
                               currency="USD")


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None, 10**12])
def test_bad_amounts_refused(customer, amount):
    with pytest.raises(InvalidAmount):
        services.charge_create(actor=customer, account_id=_account(customer).pk, amount=amount,
                               currency="EUR")


def test_system_actor_may_charge_any_account(customer):
    r = services.charge_create(actor=ACTOR, account_id=_account(customer).pk, amount=10,
                               currency="EUR")
    assert r.entry.actor_type == "system"
