"""The ledger's rules hold in PostgreSQL itself, whatever the application does."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction

from ledger import services
from ledger.models import JournalEntry, LedgerAccount, Posting

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def entry(customer):
    acc = customer.credit_accounts.get()
    return services.charge_create(actor=customer, account_id=acc.pk, amount=700,
                                  currency="EUR").entry


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_posting SET amount = amount + 1",
    "DELETE FROM ledger_posting",
    "UPDATE ledger_journalentry SET amount = 1",
    "DELETE FROM ledger_journalentry",
    "TRUNCATE ledger_posting CASCADE",
])
def test_ledger_rows_are_append_only(entry, sql):
    with pytest.raises((InternalError, IntegrityError)) as err:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert "append-only" in str(err.value)
    assert Posting.objects.filter(entry=entry).count() == 2


def test_unbalanced_entry_rejected_at_commit(entry):
    la = LedgerAccount.objects.get(code="merchant_settlement:EUR")
    with pytest.raises(IntegrityError) as err:
        with transaction.atomic():
            Posting.objects.create(entry=entry, ledger_account=la, amount=5, currency="EUR")
    assert "does not balance" in str(err.value)


def test_entry_without_postings_rejected_at_commit(entry):
    with pytest.raises(IntegrityError) as err:
        with transaction.atomic():
            JournalEntry.objects.create(kind="charge", account=entry.account, amount=5,
                                        currency="EUR", occurred_at=entry.occurred_at)
    assert "needs two or more" in str(err.value)


def test_available_never_negative_even_if_service_bypassed(entry):
    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("UPDATE accounts_creditaccount SET posted = credit_limit + 1")
