"""Template filters of the portal."""

from __future__ import annotations

from django import template

from creditplatform.portal.money import format_minor

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    """``{{ account.available|money:account.currency }}`` -> ``"1,234.56 EUR"``."""
    if amount is None:
        return ""
    return format_minor(amount, currency)
