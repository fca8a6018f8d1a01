import pytest
from django.db import connection

from accounts import services
from accounts.exceptions import DuplicateCard, InvalidCard
from accounts.models import Card
from creditplatform import crypto
from tests.factories import ACTOR, add_card

pytestmark = pytest.mark.django_db

PAN = "4111111111111111"


@pytest.mark.parametrize("pan,ok", [
    ("4111111111111111", True), ("4111 1111 1111 1111", True), ("5500-0000-0000-0004", True),
    ("4111111111111112", False), ("41111111111", False), ("4111x11111111111", False),
    ("4" * 20, False),
])
def test_normalize_pan_checks_luhn_and_length(pan, ok):
    if ok:
        assert services.normalize_pan(pan).isdigit()
    else:
        with pytest.raises(InvalidCard):
            services.normalize_pan(pan)


def test_card_pan_is_encrypted_at_rest_and_shown_as_bin_last4(customer):
    card = add_card(customer, PAN)
    with connection.cursor() as cur:
        cur.execute("SELECT pan_encrypted, bin, last4 FROM accounts_card WHERE id = %s", [card.pk])
        blob, bin_, last4 = cur.fetchone()
    assert PAN.encode() not in bytes(blob)
    assert (bin_, last4) == ("411111", "1111")
    assert card.masked_pan == "411111******1111"
    assert services.card_pan_reveal_unaudited(Card.objects.get(pk=card.pk)) == PAN


def test_ciphertext_moved_to_another_row_fails_loudly(customer):
    a = add_card(customer, PAN)
    b = add_card(customer, "5500000000000004")
    moved = Card.objects.get(pk=b.pk)
    moved.pan_encrypted = Card.objects.get(pk=a.pk).pan_encrypted
    with pytest.raises(crypto.DecryptionError):
        services.card_pan_reveal_unaudited(moved)


def test_duplicate_pan_is_found_by_blind_index(customer):
    add_card(customer, PAN)
    with pytest.raises(DuplicateCard):
        add_card(customer, "4111 1111 1111 1111")


def test_expired_card_refused(customer):
    import datetime as dt

    with pytest.raises(InvalidCard):
        services.card_create(actor=ACTOR, account_id=customer.credit_accounts.first().pk,
                             pan=PAN, exp_month=1, exp_year=2020, today=dt.date(2026, 1, 1))
