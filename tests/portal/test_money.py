"""The one money formatter: minor units with the currency's ISO 4217 exponent."""

import pytest

from creditplatform.portal.money import currency_exponent, format_minor


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (123456, "EUR", "1,234.56 EUR"),
    (5, "USD", "0.05 USD"),
    (-1999, "EUR", "-19.99 EUR"),
    (1500, "JPY", "1,500 JPY"),     # exponent 0
    (1234567, "KWD", "1,234.567 KWD"),  # exponent 3
    (0, "GBP", "0.00 GBP"),
])
def test_format_minor_uses_the_currency_exponent(amount, currency, text):
    assert format_minor(amount, currency) == text


def test_unknown_currencies_default_to_two_decimals():
    assert currency_exponent("XYZ") == 2
    assert format_minor(100, "XYZ", with_code=False) == "1.00"
