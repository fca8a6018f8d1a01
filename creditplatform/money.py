"""ISO 4217 currencies: the one source of the known codes and their minor-unit exponents, and
the one formatter of integer minor units.

Source: the ``iso4217`` package (PyPI, public domain), which ships ISO 4217 *list one* as the
maintenance agency (SIX Financial Information) publishes it and parses its "Minor unit"
column; the pinned version in ``pyproject.toml`` ends with the list's publication date
(``1.16.20260101``: the list published 2026-01-01, :data:`ISO_4217_PUBLISHED`). A code is a
currency here when it is in that list **and** has a numeric minor unit: the codes whose minor
unit is "N.A." (``XXX`` "no currency", ``XTS`` "testing", precious metals ``XAU``/``XAG``/
``XPT``/``XPD``, ``XDR`` and the other units of account) cannot carry an amount of minor units
and are refused. Updating the list is a dependency bump (a new amendment of ISO 4217).
"""

from __future__ import annotations

import datetime as dt

from iso4217 import Currency, __published__

__all__ = ["ISO_4217_PUBLISHED", "UnknownCurrency", "currency_exponent", "format_minor",
           "is_currency"]

#: Publication date of the ISO 4217 list one this build knows.
ISO_4217_PUBLISHED: dt.date = __published__

#: ``code -> exponent`` (digits after the decimal point) of every code of list one that has a
#: numeric minor unit: ``EUR`` 2, ``JPY`` 0, ``BHD`` 3, ``CLF`` 4.
_EXPONENTS: dict[str, int] = {c.code: c.exponent for c in Currency if c.exponent is not None}


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code with a minor unit (``ZZZ``, ``XXX``, ``eur``)."""


def is_currency(code: object) -> bool:
    """True when ``code`` is an ISO 4217 alphabetic code (exact, upper case) with a minor
    unit, e.g. ``"EUR"``; False for anything else (``"ZZZ"``, ``"XXX"``, ``"eur"``, ``978``)."""
    return isinstance(code, str) and code in _EXPONENTS


def currency_exponent(code: str, default: int | None = None) -> int:
    """Digits after the decimal point of ``code`` (ISO 4217 minor unit): ``EUR`` 2, ``JPY`` 0,
    ``BHD`` 3. An amount of ``n`` minor units is ``n / 10**exponent`` units.

    ``default``: returned for an unknown code instead of raising (display only).

    Raises:
        UnknownCurrency: ``code`` is not :func:`is_currency` and no ``default`` is given.
    """
    exponent = _EXPONENTS.get(code) if isinstance(code, str) else None
    if exponent is not None:
        return exponent
    if default is None:
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency with a minor unit")
    return default


def format_minor(amount: int, currency: str, *, with_code: bool = True) -> str:
    """``format_minor(123456, "EUR") -> "1,234.56 EUR"``; ``(-500, "JPY") -> "-500 JPY"``;
    ``(1234567, "KWD") -> "1,234.567 KWD"``.

    Exact integer arithmetic (no float); thousands separated by commas; the exponent of
    :func:`currency_exponent`, 2 for a code this build does not know (display never fails).
    """
    exp = currency_exponent((currency or "").upper(), default=2)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**exp)
    text = f"{sign}{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    return f"{text} {currency}" if with_code else text
