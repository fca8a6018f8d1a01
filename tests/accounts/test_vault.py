"""Per-customer keys, the reveal permission, crypto-shredding, rotation, and a pg_dump check."""

import datetime as dt
import io
import shutil
import subprocess

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection

from accounts import vault
from accounts.models import Card, CustomerDataKey
from compliance import sealing
from compliance.models import AuditEvent
from creditplatform import crypto
from creditplatform.errors import NotFoundError
from ledger import services as ledger
from ledger.verification import verify_ledger
from tests.factories import ACTOR, CustomerFactory, UserFactory, add_card

PAN = "4111111111111111"
NATIONAL_ID = "AB1234567C"


@pytest.mark.django_db
def test_pan_is_under_the_customers_own_key(customer):
    card = add_card(customer, PAN)
    version, key_id = crypto.header_of(bytes(Card.objects.get(pk=card.pk).pan_encrypted))
    assert version == crypto.CUSTOMER_KEY_VERSION
    assert key_id == CustomerDataKey.objects.get(user=customer).pk
    assert vault.card_pan(card) == PAN


@pytest.mark.django_db
def test_ciphertext_of_another_customer_does_not_decrypt(customer):
    other = CustomerFactory()
    mine, theirs = add_card(customer, PAN), add_card(other, "5500000000000004")
    moved = Card.objects.select_related("account__owner").get(pk=theirs.pk)
    moved.pan_encrypted = Card.objects.get(pk=mine.pk).pan_encrypted
    with pytest.raises(crypto.DecryptionError):
        vault.card_pan(moved)


@pytest.mark.django_db
def test_reveal_needs_a_permission_no_role_holds_and_is_audited(customer):
    card = add_card(customer, PAN)
    for role in ("customer", "support_agent", "compliance_officer", "platform_admin"):
        assert not Group.objects.get(name=role).permissions.filter(
            codename="reveal_card_pan").exists()
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="support_agent"))
    with pytest.raises(NotFoundError):
        vault.card_pan_reveal(actor=agent, card_id=card.pk)
    custodian = UserFactory(is_staff=True)
    custodian.user_permissions.add(Permission.objects.get(codename="reveal_card_pan"))
    assert vault.card_pan_reveal(actor=custodian, card_id=card.pk) == PAN
    outcomes = list(AuditEvent.objects.filter(event_type="card.pan_reveal")
                    .values_list("outcome", flat=True).order_by("id"))
    assert outcomes == ["denied", "success"]


@pytest.mark.django_db
def test_profile_is_encrypted_and_audited_masked(customer):
    vault.customer_profile_set(actor=ACTOR, user=customer, national_id=NATIONAL_ID,
                               date_of_birth=dt.date(1990, 4, 2), credit_score=712)
    assert vault.customer_profile_read(user=customer) == {
        "national_id": NATIONAL_ID, "date_of_birth": dt.date(1990, 4, 2), "credit_score": 712}
    with connection.cursor() as cur:
        cur.execute("SELECT national_id_encrypted, credit_score_encrypted FROM "
                    "accounts_customerprofile")
        nid, score = cur.fetchone()
    assert NATIONAL_ID.encode() not in bytes(nid) and b"712" not in bytes(score)
    event = AuditEvent.objects.get(event_type="profile.updated")
    assert NATIONAL_ID not in str(event.details) and "****567C" in str(event.details)


@pytest.mark.django_db
@pytest.mark.parametrize("years_ago", [-1, 131])
def test_profile_refuses_a_date_of_birth_no_living_person_has(customer, years_ago):
    from django.utils import timezone

    from accounts.credit.policy import InvalidDateOfBirth

    today = timezone.now().date()
    born = today.replace(year=today.year - years_ago, day=min(today.day, 28))
    with pytest.raises(InvalidDateOfBirth):
        vault.customer_profile_set(actor=ACTOR, user=customer, date_of_birth=born)
    assert vault.customer_profile_read(user=customer)["date_of_birth"] is None
    assert not AuditEvent.objects.filter(event_type="profile.updated").exists()


@pytest.mark.django_db
def test_erasure_shreds_personal_data_but_ledger_still_verifies(customer, settings):
    settings.AUDIT_SEAL_DELAY_SECONDS = 0
    card = add_card(customer, PAN)
    vault.customer_profile_set(actor=ACTOR, user=customer, national_id=NATIONAL_ID)
    ledger.charge_create(actor=customer, account_id=customer.credit_accounts.get().pk,
                         amount=500, currency="EUR", card_id=card.pk)
    vault.customer_erase(actor=ACTOR, user=customer)
    card = Card.objects.select_related("account__owner").get(pk=card.pk)
    with pytest.raises(vault.CustomerErased):
        vault.card_pan(card)
    with pytest.raises(vault.CustomerErased):
        vault.customer_profile_read(user=customer)
    customer.refresh_from_db()
    assert not customer.is_active and card.status == "closed"
    assert verify_ledger() == []
    sealing.seal_all()
    assert sealing.verify_chain() == []  # the audit trail holds no personal data to shred


@pytest.mark.django_db
def test_rotation_is_resumable_and_leaves_every_value_readable():
    holders = [CustomerFactory() for _ in range(3)]
    cards = [add_card(h, pan) for h, pan in
             zip(holders, ["4111111111111111", "5500000000000004", "4012888888881881"],
                 strict=True)]
    out = io.StringIO()
    call_command("rotate_keys", "--add-key", "--batch-size", "1", "--max-batches", "1",
                 "--no-progress", stdout=out)
    assert "2 keys remaining" in out.getvalue() and "run again to resume" in out.getvalue()
    out = io.StringIO()
    call_command("rotate_keys", "--no-progress", stdout=out)
    assert "0 keys remaining" in out.getvalue()
    active = crypto.keyring().active
    assert set(CustomerDataKey.objects.values_list("ring_key_id", flat=True)) == {active}
    for card in cards:
        assert vault.card_pan(Card.objects.select_related("account__owner").get(pk=card.pk))
    assert AuditEvent.objects.filter(event_type="keys.rotated").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump not installed")
def test_pg_dump_holds_no_pan_national_id_or_token(customer, api):
    add_card(customer, PAN)
    vault.customer_profile_set(actor=ACTOR, user=customer, national_id=NATIONAL_ID)
    token = api(customer)._credentials["HTTP_AUTHORIZATION"].split()[1]
    settings = connection.settings_dict
    dump = subprocess.run(
        ["pg_dump", "-h", settings["HOST"] or "127.0.0.1", "-U", settings["USER"] or "postgres",
         "--data-only", settings["NAME"]], capture_output=True, check=True, timeout=60,
    ).stdout.decode("utf-8", "replace")
    assert "accounts_card" in dump and len(dump) > 1000
    for secret in (PAN, NATIONAL_ID, token):
        assert secret not in dump


@pytest.mark.django_db(transaction=True)
def test_rotation_and_erasure_while_the_platform_serves():
    """Readers decrypt PANs and charges post while rotate_keys re-wraps in batches and one
    customer is erased: no reader ever fails on a live customer, and everything stays readable."""
    import threading

    from django.db import connections

    holders = [CustomerFactory() for _ in range(6)]
    pans = ["4111111111111111", "5500000000000004", "4012888888881881", "4222222222222",
            "5105105105105100", "4000056655665556"]
    cards = [add_card(h, p) for h, p in zip(holders, pans, strict=True)]
    erased = holders[-1]
    errors: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                for holder, card, pan in zip(holders[:-1], cards, pans, strict=False):
                    c = Card.objects.select_related("account__owner").get(pk=card.pk)
                    if vault.card_pan(c) != pan:
                        errors.append(f"wrong PAN for {card.pk}")
                    ledger.charge_create(actor=holder, account_id=c.account_id, amount=1,
                                         currency="EUR")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    worker = threading.Thread(target=serve)
    worker.start()
    try:
        call_command("rotate_keys", "--add-key", "--batch-size", "1", "--no-progress",
                     stdout=io.StringIO())
        vault.customer_erase(actor=ACTOR, user=erased)
        call_command("rotate_keys", "--add-key", "--batch-size", "2", "--no-progress",
                     stdout=io.StringIO())
    finally:
        stop.set()
        worker.join(timeout=60)
    assert errors == []
    for card, pan in zip(cards[:-1], pans[:-1], strict=True):
        assert vault.card_pan(Card.objects.select_related("account__owner").get(pk=card.pk)) == pan
    with pytest.raises(vault.CustomerErased):
        vault.card_pan(Card.objects.select_related("account__owner").get(pk=cards[-1].pk))
    assert verify_ledger() == []
