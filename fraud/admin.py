"""The support queue: alerts by risk and age, masked card, reasons."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import PolicyAdminMixin, ReadOnlyAdminMixin
from fraud.models import Alert, FraudScore


@admin.register(Alert)
class AlertAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "score", "reasons", "amount", "masked_card", "account",
                    "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["id", "account__owner__username", "entry__merchant"]
    list_select_related = ["entry", "card", "account"]
    ordering = ["-score", "created_at"]

    @admin.display(description="amount (minor units)")
    def amount(self, obj: Alert) -> str:
        return f"{obj.entry.amount} {obj.entry.currency}"

    @admin.display(description="card")
    def masked_card(self, obj: Alert) -> str:
        return obj.card.masked_pan if obj.card else "-"


@admin.register(FraudScore)
class FraudScoreAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["entry", "score", "reasons", "model_version", "latency_ms", "scored_at"]
    list_filter = ["model_version"]
