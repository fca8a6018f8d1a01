"""The portal's money helpers: :func:`creditplatform.money.format_minor` (the one formatter)
and the ISO 4217 exponent of a currency for display (2 when the code is unknown)."""

from __future__ import annotations

from creditplatform import money
from creditplatform.money import format_minor

__all__ = ["currency_exponent", "format_minor"]


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (ISO 4217 minor unit, from
    :mod:`creditplatform.money`; 2 if the code is unknown)."""
    return money.currency_exponent((currency or "").upper(), default=2)
