"""The portal's reads: spending by week and by merchant, and the access policy under them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from creditplatform.errors import NotFoundError
from creditplatform.portal import selectors
from tests.factories import CustomerFactory
from tests.portal.conftest import charge

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("approve_all")]


@pytest.fixture
def approve_all():
    with override_settings(LEDGER_PREAUTH="ledger.preauth.approve_all"):
        yield


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def history():
    """Charges in 2018 (as the replayed handbook data): weeks of Monday 4 and 11 June."""
    user = CustomerFactory()
    charge(user, amount=1000, merchant="bakery", occurred_at=at("2018-06-04"))
    charge(user, amount=500, merchant="bakery", occurred_at=at("2018-06-10", 23))  # Sunday
    charge(user, amount=2500, merchant="garage", occurred_at=at("2018-06-11", 0))   # Monday
    charge(user, amount=99, merchant="", occurred_at=at("2018-01-02"))  # outside 90 days
    return user


def test_weeks_start_on_monday_and_empty_weeks_are_zero(history):
    account = history.credit_accounts.get()
    anchor = selectors.spending_anchor_for(actor=history, account_id=account.pk)
    assert anchor == dt.date(2018, 6, 11)  # the newest charge, not today
    points = selectors.spending_by_week_for(actor=history, account_id=account.pk, weeks=3,
                                            today=anchor)
    assert [(p.label, p.amount, p.count) for p in points] == [
        ("28 May", 0, 0), ("04 Jun", 1500, 2), ("11 Jun", 2500, 1)]


def test_merchants_largest_first_within_the_window(history):
    account = history.credit_accounts.get()
    points = selectors.spending_by_merchant_for(actor=history, account_id=account.pk,
                                                today=dt.date(2018, 6, 11))
    assert [(p.label, p.amount) for p in points] == [("garage", 2500), ("bakery", 1500)]
    # the window ends on "today": a later charge is left out
    points = selectors.spending_by_merchant_for(actor=history, account_id=account.pk,
                                                today=dt.date(2018, 6, 10))
    assert [(p.label, p.amount) for p in points] == [("bakery", 1500)]


def test_someone_elses_account_is_not_found(history):
    other = CustomerFactory()
    account = history.credit_accounts.get()
    for read in (selectors.spending_by_week_for, selectors.spending_by_merchant_for,
                 selectors.spending_anchor_for):
        with pytest.raises(NotFoundError):
            read(actor=other, account_id=account.pk)
    with pytest.raises(NotFoundError):
        selectors.entry_search_for(actor=other, account_id=account.pk,
                                   filters=selectors.EntryFilter())
    entry = account.entries.first()
    with pytest.raises(NotFoundError):
        selectors.entry_get_for(actor=other, entry_id=entry.pk)
    assert selectors.entry_get_for(actor=history, entry_id=entry.pk) == entry
