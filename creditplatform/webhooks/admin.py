"""Webhooks in the admin: endpoints (no secrets shown), the delivery log with its attempts and
a "redeliver" action, and the outbox (read-only). Writes go through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import PolicyAdminMixin, ReadOnlyAdminMixin
from creditplatform.webhooks import services
from creditplatform.webhooks.models import (
    OutboxMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "client", "url", "is_active", "created_at", "deleted_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "client__name"]
    exclude = ["secret_encrypted", "previous_secret_encrypted"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(WebhookEvent)
class WebhookEventAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "type", "client", "created_at"]
    list_filter = ["type"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["attempted_at", "status_code", "error", "duration_ms", "manual"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "event", "endpoint", "status", "attempts", "last_status_code",
                    "next_attempt_at", "delivered_at"]
    list_filter = ["status"]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Redeliver (deliveries not yet succeeded)",
                  permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.delivery_redeliver(actor=request.user,
                                            delivery_ids=list(queryset.values_list("pk",
                                                                                   flat=True)))
        messages.info(request, f"{count} deliveries queued again; succeeded ones are never "
                               f"sent twice.")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "topic", "created_at", "dispatched_at", "attempts", "last_error"]
    list_filter = ["topic"]
