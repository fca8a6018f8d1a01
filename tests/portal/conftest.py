"""Fixtures of the portal tests: a cardholder with a card and charges, and another one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from ledger import services as ledger_services
from tests.factories import TEST_PASSWORD, CustomerFactory, add_card


def charge(user: Any, *, amount: int, merchant: str, card: Any = None,
           description: str = "", occurred_at: dt.datetime | None = None) -> Any:
    """A real charge through the ledger service (as the API makes it) -> the journal entry."""
    account = user.credit_accounts.get()
    return ledger_services.charge_create(
        actor=user, account_id=account.pk, amount=amount, currency=account.currency,
        card_id=card.pk if card else None, merchant=merchant, description=description,
        occurred_at=occurred_at).entry


@pytest.fixture
def holder() -> Any:
    """A cardholder (EUR, limit 1,000.00) with a card and two charges."""
    user = CustomerFactory()
    card = add_card(user, "4111111111111111")
    user.test_card = card
    user.test_entries = [
        charge(user, amount=1250, merchant="Coffee Corner", card=card),
        charge(user, amount=4999, merchant="Book Shop", card=card, description="novels"),
    ]
    return user


@pytest.fixture
def intruder() -> Any:
    """Another cardholder with a card and a charge of their own."""
    user = CustomerFactory()
    card = add_card(user, "5500000000000004")
    user.test_card = card
    user.test_entries = [charge(user, amount=700, merchant="Elsewhere", card=card)]
    return user


def signed_in(user: Any, *, csrf: bool = False) -> Client:
    """A client signed in through the portal's own login form."""
    client = Client(enforce_csrf_checks=csrf)
    if csrf:
        client.get("/portal/login/")
        token = client.cookies["csrftoken"].value
        r = client.post("/portal/login/", {"username": user.username, "password": TEST_PASSWORD,
                                           "csrfmiddlewaretoken": token})
    else:
        r = client.post("/portal/login/", {"username": user.username,
                                           "password": TEST_PASSWORD})
    assert r.status_code == 302, r.content[:500]
    return client


def this_month() -> tuple[int, int]:
    today = dt.datetime.now(dt.UTC).date()
    return today.year, today.month
