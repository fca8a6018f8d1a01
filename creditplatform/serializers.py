"""Field types shared by every app's API: strict minor units and ISO 4217 currency codes."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from creditplatform.logging import contains_pan
from creditplatform.money import is_currency


@extend_schema_field({"type": "integer", "minimum": 1, "format": "int64",
                      "description": "Integer of minor units (e.g. cents)."})
class MinorUnitsField(serializers.Field):
    """A positive JSON integer of minor units, at most ``settings.LEDGER_MAX_AMOUNT``.

    Rejects floats (``10.0``, ``1e400``, NaN), strings (``"10"``), booleans, zero and negatives
    with a validation error: money never travels as a float.
    """

    default_error_messages = {
        "type": "Must be a JSON integer of minor units (no floats, no strings).",
        "positive": "Must be positive.",
        "max": "Must be at most {max}.",
    }

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("type")
        if data <= 0:
            self.fail("positive")
        if data > settings.LEDGER_MAX_AMOUNT:
            self.fail("max", max=settings.LEDGER_MAX_AMOUNT)
        return data

    def to_representation(self, value: int) -> int:
        return int(value)


@extend_schema_field({"type": "integer", "format": "int64"})
class StrictIntegerField(serializers.IntegerField):
    """DRF's IntegerField (``min_value``/``max_value``) that accepts only a JSON integer.

    DRF's own field takes ``"12"`` and ``12.0`` as 12; a number that travels as a string or a
    float is refused here with the ``invalid`` message, as :class:`MinorUnitsField` does.
    """

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


@extend_schema_field({"type": "string", "format": "date", "example": "1985-05-17"})
class StrictDateField(serializers.DateField):
    """A calendar date written exactly ``YYYY-MM-DD`` in ASCII digits (RFC 3339 full-date).

    DRF's DateField parses with Django's lenient ``parse_date``: ``1985-5-17`` and full-width
    digits pass. Anything but the exact form fails with the ``invalid`` message (400
    ``validation_error``).
    """

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not _ISO_DATE.fullmatch(data):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "pattern": "^[A-Z]{3}$", "example": "EUR",
                      "description": "ISO 4217 alphabetic code with a minor unit (EUR, JPY, "
                                     "BHD); unknown codes and XXX are refused."})
class CurrencyField(serializers.CharField):
    """An ISO 4217 alphabetic currency code: three capital letters that ISO 4217 list one
    names with a numeric minor unit (:func:`creditplatform.money.is_currency`). ``ZZZ``,
    ``XXX`` (no currency) or ``eur`` fail with the ``currency`` message, which the API renders
    as 400 ``validation_error`` like any other field error.
    """

    default_error_messages = {
        "currency": "Must be an ISO 4217 currency code with a minor unit, such as EUR."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", 3)
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not is_currency(value):
            self.fail("currency")
        return value


class SafeTextField(serializers.CharField):
    """Free text without control, bidirectional, invisible or surrogate characters, and
    without anything that looks like a card number (a PAN lives only in the card vault).
    """

    _BAD = re.compile(
        "[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
        "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
    )
    default_error_messages = {
        "chars": "Control, bidirectional and invisible characters are not allowed.",
        "pan": "Free text must not contain a card number.",
    }

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if self._BAD.search(value):
            self.fail("chars")
        if contains_pan(value):
            self.fail("pan")
        return value
