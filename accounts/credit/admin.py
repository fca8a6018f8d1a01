"""Admin for credit applications, their decisions and maker-checker requests.

Rows are written only through the services: the add forms call
``credit_application_create`` / ``credit_override_request`` / ``credit_limit_increase_request``
and the approve/reject actions call ``credit_change_approve`` / ``credit_change_reject`` (a
different person, with ``accounts.approve_creditchangerequest``; self-approval is refused).
Personal data is never shown: national id as last 4, no date of birth. Each decision shows the
credit line its approval opened or raised (``credit_account``, ``credit_line_action``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.admin import MakerCheckerActionsMixin, PolicyAdminMixin
from accounts.credit import policy, services
from accounts.credit.models import CreditApplication, CreditChangeRequest, CreditDecision


class CreditApplicationForm(forms.ModelForm):
    """The applicant's data, entered by staff on the applicant's behalf."""

    date_of_birth = forms.DateField()
    national_id = forms.RegexField(r"^[A-Za-z0-9]{4,32}$")
    consent = forms.BooleanField(required=False, help_text="The applicant consented.")
    consent_text_version = forms.ChoiceField(
        choices=[(v, v) for v in services.CONSENT_TEXTS], initial=services.CURRENT_CONSENT_VERSION)

    class Meta:
        model = CreditApplication
        fields = ["applicant", "currency", "requested_limit", "monthly_income",
                  "monthly_obligations", "employment_status", "employment_months"]

    def clean_date_of_birth(self) -> dt.date:
        try:
            return policy.date_of_birth_check(self.cleaned_data["date_of_birth"],
                                              today=timezone.now().date())
        except policy.InvalidDateOfBirth as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("consent"):
            raise forms.ValidationError("Without the applicant's consent there is no application.")
        return data


class DecisionInline(admin.TabularInline):
    model = CreditDecision
    extra = 0
    can_delete = False
    fields = ["sequence", "source", "outcome", "pd", "credit_limit", "credit_line_action",
              "credit_account", "reasons", "model_version", "inputs_sha256", "decided_at",
              "actor_id"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditApplication)
class CreditApplicationAdmin(PolicyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "applicant", "status", "requested_limit", "currency", "created_at"]
    list_filter = ["status", "currency", "employment_status"]
    search_fields = ["id", "applicant__username", "national_id_last4"]
    list_select_related = ["applicant"]
    inlines = [DecisionInline]
    readonly = ["id", "applicant", "account", "status", "currency", "requested_limit",
                "monthly_income", "monthly_obligations", "employment_status",
                "employment_months", "national_id_last4", "consent_at", "consent_text_version",
                "history", "created_at", "latest_decision_summary"]

    @admin.display(description="latest decision")
    def latest_decision_summary(self, obj: CreditApplication) -> str:
        d = obj.latest_decision
        if d is None:
            return "-"
        reasons = ", ".join(f"{r['code']} {r['text']}" for r in d.reasons) or "-"
        pd_text = "-" if d.pd is None else f"{d.pd:.4f}"
        line = (f"; credit line {d.credit_line_action} {d.credit_account_id}"
                if d.credit_account_id else "")
        return (f"#{d.sequence} {d.outcome} ({d.source}); PD {pd_text}; limit {d.credit_limit} "
                f"{d.currency}{line}; reasons: {reasons}; model {d.model_version or '-'}; "
                f"policy {d.policy_version}; inputs sha256 {d.inputs_sha256}")

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = CreditApplicationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [*CreditApplicationForm.Meta.fields, "date_of_birth", "national_id",
                    "consent", "consent_text_version"]
        return self.readonly

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly if obj is not None else []

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [DecisionInline] if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        with transaction.atomic():
            app = services.credit_application_create(
                actor=request.user, applicant=data["applicant"], currency=data["currency"],
                requested_limit=data["requested_limit"], monthly_income=data["monthly_income"],
                monthly_obligations=data["monthly_obligations"],
                employment_status=data["employment_status"],
                employment_months=data["employment_months"] or 0,
                date_of_birth=data["date_of_birth"], national_id=data["national_id"],
                consent=bool(data["consent"]), consent_text_version=data["consent_text_version"])
        obj.pk = app.pk
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None


class ChangeRequestForm(forms.ModelForm):
    class Meta:
        model = CreditChangeRequest
        fields = ["kind", "application", "account", "outcome", "credit_limit", "reason"]


@admin.register(CreditChangeRequest)
class CreditChangeRequestAdmin(PolicyAdminMixin, MakerCheckerActionsMixin, admin.ModelAdmin):
    """Maker: add a request. Checker: select it and approve or reject (another person)."""

    approve_service = services.credit_change_approve
    reject_service = services.credit_change_reject

    form = ChangeRequestForm
    list_display = ["id", "kind", "status", "application", "account", "outcome", "credit_limit",
                    "previous_limit", "requested_by", "decided_by", "requested_at"]
    list_filter = ["kind", "status"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [f.name for f in CreditChangeRequest._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        d = form.cleaned_data
        with transaction.atomic():
            if d["kind"] == CreditChangeRequest.Kind.OVERRIDE:
                req = services.credit_override_request(
                    actor=request.user, application=d["application"], outcome=d["outcome"],
                    credit_limit=d["credit_limit"], reason=d["reason"])
            else:
                req = services.credit_limit_increase_request(
                    actor=request.user, account=d["account"], new_limit=d["credit_limit"],
                    reason=d["reason"])
        obj.pk = req.pk
        obj._state.adding = False
