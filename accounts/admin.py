"""Admin for identity and credit lines. Querysets go through the one access policy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Card, CreditAccount, User
from accounts.permissions import scope_for_admin


class PolicyAdminMixin:
    """Changelists filtered by :func:`accounts.permissions.scope_for_admin`."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_for_admin(request.user, super().get_queryset(request))  # type: ignore[misc]


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows in the admin; services write them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class PlatformUserAdmin(PolicyAdminMixin, UserAdmin):
    list_display = ["username", "email", "is_staff", "is_active", "last_login"]


@admin.register(CreditAccount)
class CreditAccountAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "owner", "currency", "credit_limit", "posted", "pending",
                    "available", "status", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["id", "owner__username"]
    list_select_related = ["owner"]


@admin.register(Card)
class CardAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cards shown as bin + last4; the ciphertext and blind index are never displayed."""

    list_display = ["id", "masked_pan", "account", "exp_month", "exp_year", "status"]
    list_filter = ["status"]
    search_fields = ["id", "last4", "account__owner__username"]
    fields = ["id", "masked_pan", "account", "exp_month", "exp_year", "status", "created_at"]
    readonly_fields = fields
