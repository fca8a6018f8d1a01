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
