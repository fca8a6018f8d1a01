"""Read-only ledger views for officers and support staff."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import PolicyAdminMixin, ReadOnlyAdminMixin
from ledger.models import IdempotencyRecord, JournalEntry, LedgerAccount, Posting


class PostingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Posting
    fields = ["ledger_account", "amount", "currency"]
    readonly_fields = fields
    extra = 0


@admin.register(JournalEntry)
class JournalEntryAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "account", "amount", "currency", "merchant", "occurred_at",
                    "fraud_decision"]
    list_filter = ["kind", "currency", "fraud_decision"]
    search_fields = ["id", "account__id", "merchant"]
    date_hierarchy = "occurred_at"
    inlines = [PostingInline]
    exclude: list[str] = []


@admin.register(LedgerAccount)
class LedgerAccountAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["code", "kind", "currency"]
    search_fields = ["code"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["scope", "key", "method", "route", "response_status", "created_at",
                    "expires_at"]
    search_fields = ["key", "scope"]
