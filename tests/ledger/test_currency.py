"""ISO 4217 currencies (creditplatform/money.py): one source for the list of codes and the
minor-unit exponents; unknown codes are refused by the API before anything is written
(the same refusal on every money endpoint is in tests/input/test_bad_input.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework import serializers

from creditplatform import money
from creditplatform.serializers import CurrencyField
from ledger.models import Hold, IdempotencyRecord, JournalEntry


@pytest.mark.parametrize(("code", "exponent"), [
    ("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("CLF", 4),
])
def test_exponents_come_from_the_iso_4217_list(code, exponent):
    assert money.currency_exponent(code) == exponent
    assert money.is_currency(code)


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "XTS", "XAU", "DEM", "eur", "EU", "", None, 978])
def test_unknown_codes_and_codes_without_a_minor_unit_are_not_currencies(code):
    assert not money.is_currency(code)
    with pytest.raises(money.UnknownCurrency):
        money.currency_exponent(code)


def test_unknown_code_gets_the_display_default_only_when_asked():
    assert money.currency_exponent("ZZZ", default=2) == 2
    assert money.currency_exponent("JPY", default=2) == 0  # a default never hides a real one


def test_the_list_is_a_recent_publication():
    assert money.ISO_4217_PUBLISHED >= dt.date(2026, 1, 1)


@pytest.mark.parametrize(("amount", "code", "text"), [
    (123456, "EUR", "1,234.56 EUR"), (1500, "JPY", "1,500 JPY"),
    (1234567, "BHD", "1,234.567 BHD"), (-5, "EUR", "-0.05 EUR"), (12345, "CLF", "1.2345 CLF"),
])
def test_format_minor_uses_the_iso_exponent(amount, code, text):
    assert money.format_minor(amount, code) == text


@pytest.mark.parametrize("code", ["ZZZ", "XXX", "eur", "DEM"])
def test_currency_field_refuses_unknown_codes(code):
    with pytest.raises(serializers.ValidationError) as exc:
        CurrencyField().run_validation(code)
    assert "ISO 4217" in str(exc.value.detail[0])


def test_currency_field_accepts_known_codes():
    assert CurrencyField().run_validation("JPY") == "JPY"


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["ZZZ", "XXX"])
@pytest.mark.parametrize("operation", ["charges", "payments", "authorizations"])
def test_unknown_currency_is_400_problem_and_writes_nothing(customer, api, idem, code,
                                                            operation):
    account = customer.credit_accounts.get()
    r = api(customer).post(f"/api/v1/accounts/{account.pk}/{operation}/",
                           {"amount": 1000, "currency": code, "merchant": "shop"},
                           format="json", **idem())
    assert r.status_code == 400 and r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] == "validation_error"
    assert "currency" in r.json()["errors"]
    assert not JournalEntry.objects.exists() and not Hold.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    account.refresh_from_db()
    assert (account.posted, account.pending) == (0, 0)


@pytest.mark.django_db
def test_unknown_currency_refused_on_credit_applications(customer, api, idem):
    from accounts.credit.models import CreditApplication
    from tests.credit.conftest import application_data

    body = application_data(currency="ZZZ")
    body["date_of_birth"] = body["date_of_birth"].isoformat()
    r = api(customer).post("/api/v1/credit-applications/", body, format="json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    assert not CreditApplication.objects.exists()
