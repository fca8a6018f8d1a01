"""One helper to show integer minor units as a decimal amount of their currency."""

from __future__ import annotations

# ISO 4217 minor-unit exponents that are not 2 (ISO 4217 list one, "Minor unit" column;
# SIX Financial Information, current as of amendment 178). Every other code has 2.
_EXPONENTS: dict[str, int] = {
    # 0 decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # 3 decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 decimals
    "CLF": 4, "UYW": 4,
}


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (ISO 4217 minor unit; 2 if not listed)."""
    return _EXPONENTS.get((currency or "").upper(), 2)


def format_minor(amount: int, currency: str, *, with_code: bool = True) -> str:
    """``format_minor(123456, "EUR") -> "1,234.56 EUR"``; ``(-500, "JPY") -> "-500 JPY"``.

    Exact integer arithmetic (no float); thousands separated by commas.
    """
    exp = currency_exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**exp)
    text = f"{sign}{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    return f"{text} {currency}" if with_code else text

