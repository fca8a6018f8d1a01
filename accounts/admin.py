"""Admin for identity and credit lines. Querysets go through the one access policy."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import api_clients
from accounts.models import ApiClient, ApiKey, Card, CreditAccount, User
from accounts.permissions import scope_for_admin
from creditplatform.errors import ApplicationError


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


class MakerCheckerActionsMixin:
    """The checker's admin actions "Approve" and "Reject" on selected pending requests.

    Subclasses name their services: ``approve_service`` / ``reject_service`` are called as
    ``service(actor=request.user, **{request_kwarg: obj})`` for each selected row; a refusal
    (:class:`~creditplatform.errors.ApplicationError`: self-approval, not pending, no
    permission) is shown per row and the other rows go on (each service is its own
    transaction and audit record).
    """

    approve_service: Any = None
    reject_service: Any = None
    request_kwarg = "request"
    actions = ["approve", "reject"]

    def _decide(self, request: HttpRequest, queryset: QuerySet, approve: bool) -> None:
        service = type(self).approve_service if approve else type(self).reject_service
        for obj in queryset:
            try:
                service(actor=request.user, **{self.request_kwarg: obj})
            except ApplicationError as exc:
                self.message_user(request, f"{obj.pk}: {exc.message}",  # type: ignore[attr-defined]
                                  messages.ERROR)
            else:
                self.message_user(  # type: ignore[attr-defined]
                    request, f"{obj.pk}: {'approved' if approve else 'rejected'}")

    @admin.action(description="Approve (second person)")
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, True)

    @admin.action(description="Reject (second person)")
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, False)


@admin.register(User)
class PlatformUserAdmin(PolicyAdminMixin, UserAdmin):
    """Users for the ``platform_admin`` role, without a way up (least privilege).

    Django's stock ``UserAdmin`` lets anyone with ``change_user`` tick ``is_superuser``, grant
    single permissions and set any password. Here a non-superuser cannot: see or change a
    superuser, change their own account (no self-granted roles), edit ``is_superuser`` or
    per-user permissions, or set the password of any staff account (staff change their own
    password themselves, with their second factor). Roles are given by group membership, which
    is audited (``role.changed``).
    """

    list_display = ["username", "email", "is_staff", "is_active", "last_login"]
    _SUPERUSER_ONLY = ("is_superuser", "user_permissions", "last_login", "date_joined")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(is_superuser=False)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in self._SUPERUSER_ONLY if f not in fields]
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if (obj is not None and not request.user.is_superuser
                and (obj.pk == request.user.pk or obj.is_superuser)):
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request: HttpRequest, id: str,  # noqa: A002 - Django's name
                             form_url: str = "") -> Any:
        from django.core.exceptions import PermissionDenied

        target = self.get_object(request, id)
        if not request.user.is_superuser and (target is None or target.is_staff
                                              or target.pk == request.user.pk):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)


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


class ApiKeyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Keys are shown by prefix only; the secret exists once, in the message after issuing."""

    model = ApiKey
    fields = ["prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields
    extra = 0


@admin.register(ApiClient)
class ApiClientAdmin(PolicyAdminMixin, admin.ModelAdmin):
    """Partner apps: scopes, throttle, key issue / rotation (24 h overlap) / revocation."""

    list_display = ["name", "scopes", "throttle_rate", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    fields = ["name", "scopes", "throttle_rate", "is_active"]
    inlines = [ApiKeyInline]
    actions = ["issue_key", "rotate_key", "revoke_keys"]

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = api_clients.api_client_create(actor=request.user, name=obj.name,
                                                scopes=list(obj.scopes or []),
                                                throttle_rate=obj.throttle_rate)
        obj.pk = created.pk
        obj._state.adding = False

    def _issue(self, request: HttpRequest, queryset: QuerySet, overlap: int | None) -> None:
        for client in queryset:
            _, full = api_clients.api_key_issue(actor=request.user, client=client,
                                                overlap_hours=overlap)
            self.message_user(request, f"New key for {client.name} (copy it now, it is not "
                              f"stored): {full}", level=messages.WARNING)

    @admin.action(description="Issue a new key (shown once)")
    def issue_key(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._issue(request, queryset, None)

    @admin.action(description="Rotate: new key, old keys expire in 24 h")
    def rotate_key(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._issue(request, queryset, 24)

    @admin.action(description="Revoke every key now")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in ApiKey.objects.filter(client__in=queryset, revoked_at__isnull=True):
            api_clients.api_key_revoke(actor=request.user, key=key)
        self.message_user(request, "Keys revoked.")


import accounts.credit.admin  # noqa: E402,F401  (credit applications, maker-checker)
