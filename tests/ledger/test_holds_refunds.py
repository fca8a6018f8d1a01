import datetime as dt
import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import CreditAccount
from ledger import services
from ledger.exceptions import (
    AlreadyCaptured,
    AlreadyReversed,
    CaptureExceedsHold,
    HoldExpired,
    HoldNotOpen,
    InsufficientCredit,
    RefundExceedsCharge,
    ReversalNotAllowed,
)
from ledger.models import Hold, JournalEntry, LedgerAccount, Posting
from ledger.verification import verify_ledger
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def acc(user):
    return CreditAccount.objects.get(owner=user)


@pytest.fixture
def operator():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="platform_admin"))
    return user


def test_hold_reserves_then_partial_capture_releases_rest(customer):
    hold, _ = services.hold_create(actor=customer, account_id=acc(customer).pk, amount=4000,
                                   currency="EUR")
    a = acc(customer)
    assert (a.posted, a.pending, a.available) == (0, 4000, 96_000)
    with pytest.raises(InsufficientCredit):
        services.charge_create(actor=customer, account_id=a.pk, amount=96_001, currency="EUR")
    services.hold_capture(actor=customer, hold_id=hold.pk, amount=3000)
    a.refresh_from_db()
    assert (a.posted, a.pending, a.available) == (3000, 0, 97_000)
    again = services.hold_capture(actor=customer, hold_id=hold.pk, amount=3000)  # idempotent
    assert again.captured_amount == 3000
    assert JournalEntry.objects.filter(kind="capture").count() == 1
    with pytest.raises(AlreadyCaptured):
        services.hold_capture(actor=customer, hold_id=hold.pk, amount=2000)
    with pytest.raises(AlreadyCaptured):
        services.hold_void(actor=customer, hold_id=hold.pk)
    assert verify_ledger() == []


def test_capture_cannot_exceed_hold_and_void_is_idempotent(customer):
    hold, _ = services.hold_create(actor=customer, account_id=acc(customer).pk, amount=1000,
                                   currency="EUR")
    with pytest.raises(CaptureExceedsHold):
        services.hold_capture(actor=customer, hold_id=hold.pk, amount=1001)
    services.hold_void(actor=customer, hold_id=hold.pk)
    services.hold_void(actor=customer, hold_id=hold.pk)
    assert acc(customer).pending == 0
    with pytest.raises(HoldNotOpen):
        services.hold_capture(actor=customer, hold_id=hold.pk)


def test_expired_hold_released_exactly_once_and_not_capturable(customer):
    hold, _ = services.hold_create(actor=customer, account_id=acc(customer).pk, amount=1500,
                                   currency="EUR", ttl_seconds=60)
    later = timezone.now() + dt.timedelta(minutes=2)
    with pytest.raises(HoldExpired):
        Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now())
        services.hold_capture(actor=customer, hold_id=hold.pk)
    assert services.holds_expire(now=later) == 1
    assert services.holds_expire(now=later) == 0
    assert acc(customer).pending == 0
    assert Hold.objects.get(pk=hold.pk).status == "expired"
    assert verify_ledger() == []


def test_refunds_never_exceed_what_is_left(customer, operator):
    charge = services.charge_create(actor=customer, account_id=acc(customer).pk, amount=5000,
                                    currency="EUR").entry
    services.refund_create(actor=operator, entry_id=charge.pk, amount=2000)
    services.refund_create(actor=operator, entry_id=charge.pk, amount=3000)
    with pytest.raises(RefundExceedsCharge):
        services.refund_create(actor=operator, entry_id=charge.pk, amount=1)
    assert acc(customer).posted == 0
    assert verify_ledger() == []


def test_cardholder_cannot_refund_own_charge(customer):
    from creditplatform.errors import NotFoundError

    charge = services.charge_create(actor=customer, account_id=acc(customer).pk, amount=5000,
                                    currency="EUR").entry
    with pytest.raises(NotFoundError):
        services.refund_create(actor=customer, entry_id=charge.pk, amount=100)


def test_reversal_mirrors_original_once(customer, operator):
    charge = services.charge_create(actor=customer, account_id=acc(customer).pk, amount=700,
                                    currency="EUR").entry
    rev = services.reversal_create(actor=operator, entry_id=charge.pk, reason="duplicate")
    assert rev.reverses_id == charge.pk and acc(customer).posted == 0
    with pytest.raises(AlreadyReversed):
        services.reversal_create(actor=operator, entry_id=charge.pk, reason="again")
    with pytest.raises(ReversalNotAllowed):
        services.reversal_create(actor=operator, entry_id=rev.pk, reason="reverse the reversal")
    assert verify_ledger() == []


def test_statement_balances(customer):
    a = acc(customer)
    t0 = timezone.now()
    services.charge_create(actor=customer, account_id=a.pk, amount=1000, currency="EUR")
    t1 = timezone.now()
    services.charge_create(actor=customer, account_id=a.pk, amount=300, currency="EUR")
    services.payment_create(actor=customer, account_id=a.pk, amount=500, currency="EUR")
    from ledger.selectors import statement_for

    st = statement_for(actor=customer, account_id=a.pk, start=t1,
                       end=timezone.now() + dt.timedelta(seconds=1))
    assert (st.opening_balance, st.closing_balance) == (1000, 800)
    assert st.totals["charge"] == 300 and st.totals["payment"] == 500
    assert st.entries.count() == 2
    whole = statement_for(actor=customer, account_id=a.pk, start=t0 - dt.timedelta(seconds=1),
                          end=timezone.now() + dt.timedelta(seconds=1))
    assert whole.opening_balance == 0 and whole.closing_balance == acc(customer).posted


def test_verify_ledger_names_each_mismatch(customer):
    a = acc(customer)
    services.charge_create(actor=customer, account_id=a.pk, amount=1000, currency="EUR")
    ok = io.StringIO()
    call_command("verify_ledger", stdout=ok)
    assert "passed" in ok.getvalue()
    CreditAccount.objects.filter(pk=a.pk).update(posted=999)
    err = io.StringIO()
    with pytest.raises(SystemExit) as code:
        call_command("verify_ledger", stderr=err)
    assert code.value.code == 1
    assert f"account_posted: credit account {a.pk}" in err.getvalue()


def test_verify_ledger_names_a_posting_on_a_ledger_account_of_another_currency(customer):
    """Balanced, in the entry's currency, but on EUR ledger accounts: found (attack review)."""
    a = acc(customer)
    services.charge_create(actor=customer, account_id=a.pk, amount=1000, currency="EUR")
    assert verify_ledger() == []
    legs = list(LedgerAccount.objects.filter(
        code__in=[f"receivable:{a.pk}", "merchant_settlement:EUR"]).order_by("code"))
    with transaction.atomic():
        entry = JournalEntry.objects.create(
            kind=JournalEntry.Kind.CHARGE, account=a, amount=5, currency="USD",
            occurred_at=timezone.now(), actor_type="system", actor_id="tests")
        Posting.objects.bulk_create([
            Posting(entry=entry, ledger_account=legs[0], amount=-5, currency="USD"),
            Posting(entry=entry, ledger_account=legs[1], amount=5, currency="USD")])
    found = {(m.check, m.subject) for m in verify_ledger()}
    assert ("posting_account_currency", f"journal entry {entry.pk}") in found
