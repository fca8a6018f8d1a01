"""Read-only ledger views for officers and support staff (journal, ledger accounts, billing
statements), and the maker-checker page of APR and cycle-day changes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import MakerCheckerActionsMixin, PolicyAdminMixin, ReadOnlyAdminMixin
from creditplatform.errors import ApplicationError
from creditplatform.money import format_minor
from ledger import billing
from ledger.billing_models import BillingStatement, BillingTermsChange
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


def _masked_account(account_id: object) -> str:
    """An account id shown as its last 4 characters: ``…9f3a``."""
    return f"…{str(account_id)[-4:]}"


#: The statement's amounts (minor units), shown with the currency's exponent.
MONEY_FIELDS = ["opening_balance", "purchases", "payments", "refunds", "adjustments", "interest",
                "fees", "closing_balance", "average_daily_balance", "minimum_payment",
                "past_due_amount", "closing_fees_outstanding", "closing_interest_outstanding",
                "closing_principal"]


@admin.register(BillingStatement)
class BillingStatementAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Closed billing cycles, read-only (statements are append-only; services write them).

    The account is masked to the last 4 characters of its id (find one account's statements
    with the exact id in the search box); amounts are minor units shown in the currency's
    ISO 4217 exponent (:func:`creditplatform.money.format_minor`). Visible with
    ``ledger.view_billingstatement`` (support agents and compliance officers).
    """

    list_display = ["period", "masked_account", "currency", "opening_balance_shown",
                    "closing_balance_shown", "minimum_payment_shown", "due_date",
                    "delinquency_bucket", "days_past_due"]
    list_filter = ["delinquency_bucket", "currency", "period_end", "due_date",
                   "paid_in_full_prior"]
    search_fields = ["=account__id"]
    date_hierarchy = "period_end"
    ordering = ["-period_end", "-id"]
    fields = ["id", "masked_account", "period_start", "period_end", "days_in_period",
              "currency", "apr", *[f"{name}_shown" for name in MONEY_FIELDS], "due_date",
              "paid_in_full_prior", "days_past_due", "delinquency_bucket", "interest_entry",
              "fee_entry", "created_at"]
    readonly_fields = fields

    @admin.display(description="period", ordering="period_end")
    def period(self, obj: BillingStatement) -> str:
        return f"{obj.period_start.isoformat()} .. {obj.period_end.isoformat()}"

    @admin.display(description="account")
    def masked_account(self, obj: BillingStatement) -> str:
        return _masked_account(obj.account_id)

    @admin.display(description="APR")
    def apr(self, obj: BillingStatement) -> str:
        return f"{obj.apr_bps / 100:.2f} % ({obj.apr_bps} bps)"


def _money_display(field: str) -> Any:
    """An admin column showing the statement's ``field`` (minor units) in its currency's
    exponent, without the code (the currency has its own column)."""

    def shown(self: Any, obj: BillingStatement) -> str:
        return format_minor(getattr(obj, field), obj.currency, with_code=False)

    name = str(BillingStatement._meta.get_field(field).verbose_name)
    return admin.display(description=name, ordering=field)(shown)


for _field in MONEY_FIELDS:
    setattr(BillingStatementAdmin, f"{_field}_shown", _money_display(_field))


class BillingTermsChangeForm(forms.ModelForm):
    """Maker: the account, the new APR and/or cycle day, and why. Validated and written by
    :func:`ledger.billing.billing_terms_change` (its refusals are shown as form errors)."""

    actor: Any = None

    class Meta:
        model = BillingTermsChange
        fields = ["account", "apr_bps", "cycle_day", "reason"]
        help_texts = {"apr_bps": "New APR in basis points (2499 = 24.99 %); empty: unchanged.",
                      "cycle_day": "New cycle day, 1-28; empty: unchanged."}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = billing.billing_terms_change(
                actor=self.actor, account=data["account"], apr_bps=data.get("apr_bps"),
                cycle_day=data.get("cycle_day"), reason=data.get("reason", ""))
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None
        return data


@admin.register(BillingTermsChange)
class BillingTermsChangeAdmin(PolicyAdminMixin, MakerCheckerActionsMixin, admin.ModelAdmin):
    """APR and cycle-day changes. Maker (``ledger.add_billingtermschange``): add one; it
    applies from the next billing cycle. Checker (``ledger.approve_billingtermschange``, a
    different person): approve or reject the pending APR increases above the threshold."""

    form = BillingTermsChangeForm
    list_display = ["id", "masked_account", "status", "apr_bps", "previous_apr_bps",
                    "cycle_day", "previous_cycle_day", "effective_from", "applied_at",
                    "requested_by", "decided_by", "requested_at"]
    list_filter = ["status", "effective_from"]
    search_fields = ["=account__id"]
    list_select_related = ["requested_by", "decided_by"]
    raw_id_fields = ["account"]
    approve_service = billing.billing_terms_change_approve
    reject_service = billing.billing_terms_change_reject
    request_kwarg = "change"

    @admin.display(description="account")
    def masked_account(self, obj: BillingTermsChange) -> str:
        return _masked_account(obj.account_id)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else [f.name for f in BillingTermsChange._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        return None  # the form's clean() wrote it through the service

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None
