"""Input and output shapes of the ledger API. Money is an integer of minor units + currency."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from creditplatform.serializers import CurrencyField, MinorUnitsField, SafeTextField
from ledger.models import JournalEntry


class ChargeInput(serializers.Serializer):
    amount = MinorUnitsField()
    currency = CurrencyField()
    card = serializers.UUIDField(required=False, allow_null=True)
    merchant = SafeTextField(required=False, allow_blank=True, max_length=100, default="")
    description = SafeTextField(required=False, allow_blank=True, max_length=200, default="")


class PaymentInput(serializers.Serializer):
    amount = MinorUnitsField()
    currency = CurrencyField()


class FraudOutput(serializers.Serializer):
    decision = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())


class ChargeOutput(serializers.Serializer):
    """``{id, status, amount, currency, account, card, merchant, description, occurred_at,
    fraud: {decision, reasons}}``."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    account = serializers.UUIDField(source="account_id")
    card = serializers.UUIDField(source="card_id", allow_null=True)
    merchant = serializers.CharField()
    description = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    fraud = FraudOutput()

    @classmethod
    def of(cls, entry: JournalEntry, *, decision: str, reasons: list[str]) -> dict[str, Any]:
        entry.status = "posted"  # type: ignore[attr-defined]
        entry.fraud = {"decision": decision, "reasons": reasons}  # type: ignore[attr-defined]
        return cls(entry).data


class PaymentOutput(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.SerializerMethodField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    account = serializers.UUIDField(source="account_id")
    created_at = serializers.DateTimeField()

    def get_status(self, obj: JournalEntry) -> str:
        return "posted"


class EntryOutput(serializers.ModelSerializer):
    """A journal entry as the cardholder sees it (the postings stay internal)."""

    class Meta:
        model = JournalEntry
        fields = ["id", "kind", "amount", "currency", "card", "merchant", "description",
                  "occurred_at", "created_at", "reverses", "fraud_decision"]
        read_only_fields = fields


class AuthorizationInput(ChargeInput):
    expires_in = serializers.IntegerField(required=False, min_value=60, max_value=30 * 86400,
                                          help_text="seconds until the hold expires")


class CaptureInput(serializers.Serializer):
    amount = MinorUnitsField(required=False, help_text="omit to capture the full amount")


class EmptyInput(serializers.Serializer):
    pass


class RefundInput(serializers.Serializer):
    amount = MinorUnitsField()


class ReversalInput(serializers.Serializer):
    reason = SafeTextField(max_length=200)


class HoldOutput(serializers.ModelSerializer):
    """An authorization: ``amount`` reserved, ``captured_amount`` once captured."""

    fraud = serializers.SerializerMethodField()
    capture_entry = serializers.SerializerMethodField()

    class Meta:
        from ledger.models import Hold

        model = Hold
        fields = ["id", "status", "amount", "captured_amount", "currency", "account", "card",
                  "merchant", "description", "expires_at", "created_at", "closed_at", "fraud",
                  "capture_entry"]
        read_only_fields = fields

    def get_fraud(self, obj: Any) -> dict[str, Any]:
        return {"decision": obj.fraud_decision, "reasons": list(obj.fraud_reasons)}

    def get_capture_entry(self, obj: Any) -> str | None:
        entry = getattr(obj, "capture_entry", None)
        return str(entry.pk) if entry is not None else None


class StatementOutput(serializers.Serializer):
    account = serializers.UUIDField(source="account.pk")
    currency = serializers.CharField(source="account.currency")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    opening_balance = serializers.IntegerField()
    closing_balance = serializers.IntegerField()
    totals = serializers.DictField(child=serializers.IntegerField())


class StatementQuery(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "must be after start"})
        return attrs
