"""Officers' read-only view of security events."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import PolicyAdminMixin, ReadOnlyAdminMixin
from compliance.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "event_type", "outcome", "actor_type", "actor_label",
                    "object_type", "object_id", "source_ip", "request_id"]
    list_filter = ["event_type", "outcome", "actor_type", "occurred_at"]
    search_fields = ["actor_label", "actor_id", "object_id", "request_id"]
    date_hierarchy = "occurred_at"
