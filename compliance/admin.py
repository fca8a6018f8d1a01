"""The officers' console in the admin (issue 7, item 4): read-only, filterable, exportable.

* Audit events, model changes (django-auditlog), journal entries and fraud alerts, each with
  date, actor, type and object filters and search. The last three are proxies
  (``compliance.models.Officer*``) whose admins check the concrete model's view permission.
* "Export CSV" on each list streams the current filtered list (or the selected rows, as an
  action); every export is the security event ``export.csv`` with row count and SHA-256.
* The console page (``console/``): seal status, verification on demand, charts; the
  per-customer activity report and the flagged-activity report for a period.

Nothing here writes business data: the only writes are the audit events of exports and
verifications (compliance.audit.record).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.admin import PolicyAdminMixin, ReadOnlyAdminMixin
from compliance import audit, charts, export, sealing, selectors
from compliance.models import (
    AuditArchive,
    AuditEvent,
    AuditSeal,
    OfficerAlert,
    OfficerJournalEntry,
    OfficerLogEntry,
)

CONSOLE_PERMISSION = "compliance.view_auditevent"


class CsvExportMixin:
    """"Export CSV" for a changelist: a button that streams the current filtered list and an
    action that streams the selected rows. ``export_fields``: model fields, in order."""

    change_list_template = "admin/compliance/change_list_export.html"
    export_fields: list[str] = []
    actions = ["export_csv"]

    def export_columns(self) -> list[tuple[str, Any]]:
        return export.field_columns(self.model, self.export_fields)  # type: ignore[attr-defined]

    def _export(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        opts = self.model._meta  # type: ignore[attr-defined]
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return export.csv_stream_response(
            actor=request.user, queryset=queryset, columns=self.export_columns(),
            filename=f"{opts.model_name}-{stamp}.csv", object_type=opts.label_lower,
            filters=request.GET.urlencode() if request.method == "GET" else "selected rows")

    @admin.action(description="Export selected rows as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return self._export(request, queryset)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The current filtered changelist (same query string), all pages."""
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        cl = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        return self._export(request, cl.get_queryset(request))

    def get_urls(self) -> list[Any]:
        opts = self.model._meta  # type: ignore[attr-defined]
        extra = [path("export.csv", self.admin_site.admin_view(self.export_view),  # type: ignore
                      name=f"{opts.app_label}_{opts.model_name}_export")]
        return extra + super().get_urls()  # type: ignore[misc]


class OfficerAdminMixin(CsvExportMixin, ReadOnlyAdminMixin):
    """Read-only admin of a proxy: visible with the concrete model's view permission."""

    def _concrete_perm(self) -> str:
        opts = self.model._meta.concrete_model._meta  # type: ignore[attr-defined]
        return f"{opts.app_label}.view_{opts.model_name}"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and user.has_perm(self._concrete_perm()))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        return qs if self.has_view_permission(request) else qs.none()


@admin.register(AuditEvent)
class AuditEventAdmin(CsvExportMixin, PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "event_type", "outcome", "actor_type", "actor_label",
                    "object_type", "object_id", "source_ip", "request_id"]
    list_filter = ["event_type", "outcome", "actor_type", "object_type", "occurred_at"]
    search_fields = ["actor_label", "actor_id", "object_id", "object_type", "request_id",
                     "event_type", "=source_ip"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    export_fields = ["id", "occurred_at", "event_type", "outcome", "actor_type", "actor_id",
                     "actor_label", "source_ip", "user_agent", "request_id", "object_type",
                     "object_id", "details"]

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("console/", view(self.console_view), name="compliance_console"),
            path("report/customer/", view(self.customer_report_view),
                 name="compliance_customer_report"),
            path("report/flagged/", view(self.flagged_report_view),
                 name="compliance_flagged_report"),
            *super().get_urls(),
        ]

    # -- console pages ----------------------------------------------------------------------

    def _require_officer(self, request: HttpRequest) -> None:
        if not (request.user.is_active and request.user.is_staff
                and request.user.has_perm(CONSOLE_PERMISSION)):
            raise PermissionDenied

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title,
                "opts": self.model._meta, **extra}

    def console_view(self, request: HttpRequest) -> HttpResponse:
        """Seal status, verification on demand (POST), and charts for a period."""
        self._require_officer(request)
        form = PeriodForm(request.GET or None)
        period = form.period()
        findings = None
        if request.method == "POST" and "verify" in request.POST:
            found = sealing.verify_chain()
            findings = [str(f) for f in found]
            audit.record("audit.verified", actor=request.user,
                         outcome="success" if not found else "failure",
                         object_type="audit_chain",
                         details={"findings": len(found), "first": findings[:20]})
        decisions = selectors.decisions_by_outcome(period=period)
        chart_data = {
            "events": charts.bar_chart_svg(
                [(d.strftime("%m-%d"), n) for d, n in selectors.events_per_day(period=period)],
                title="Security events per day"),
            "alerts": charts.bar_chart_svg(
                [(d.strftime("%m-%d"), n) for d, n in selectors.alerts_per_day(period=period)],
                title="Fraud alerts opened per day", color="#ba2121"),
            "decisions": charts.bar_chart_svg(
                [(f"alert {s}", n) for s, n in decisions["alerts"]]
                + [(f"pre-auth {s}", n) for s, n in decisions["preauth"]],
                title="Decisions by outcome", color="#5b80b2"),
        }
        return TemplateResponse(request, "admin/compliance/console.html", self._context(
            request, "Compliance console", form=form, period=period, charts=chart_data,
            decisions=decisions, seals=selectors.seal_overview(), findings=findings,
            links=_console_links()))

    def customer_report_view(self, request: HttpRequest) -> HttpResponse:
        """One customer's audit events, journal entries, alerts and model changes."""
        self._require_officer(request)
        form = CustomerReportForm(request.GET or None)
        report, not_found = None, False
        if form.is_valid() and form.cleaned_data.get("customer"):
            customer = selectors.customer_find(query=form.cleaned_data["customer"])
            if customer is None:
                not_found = True
            else:
                report = selectors.customer_activity(customer=customer, period=form.period())
        return TemplateResponse(request, "admin/compliance/customer_report.html", self._context(
            request, "Customer activity report", form=form, report=report,
            not_found=not_found, period=form.period(), links=_console_links()))

    def flagged_report_view(self, request: HttpRequest) -> HttpResponse:
        """Alerts, reviewed/declined charges and denied or failed security events."""
        self._require_officer(request)
        form = PeriodForm(request.GET or None)
        period = form.period()
        return TemplateResponse(request, "admin/compliance/flagged_report.html", self._context(
            request, "Flagged activity report", form=form, period=period,
            report=selectors.flagged_activity(period=period), links=_console_links()))


def _console_links() -> dict[str, str]:
    return {"console": reverse("admin:compliance_console"),
            "customer": reverse("admin:compliance_customer_report"),
            "flagged": reverse("admin:compliance_flagged_report"),
            "events": reverse("admin:compliance_auditevent_changelist"),
            "changes": reverse("admin:compliance_officerlogentry_changelist"),
            "entries": reverse("admin:compliance_officerjournalentry_changelist"),
            "alerts": reverse("admin:compliance_officeralert_changelist")}


class PeriodForm(forms.Form):
    """A period of whole UTC days; both ends optional (default: the last 30 days)."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def period(self) -> selectors.Period:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        start: dt.date | None = data.get("start")
        end: dt.date | None = data.get("end")
        return selectors.Period.from_dates(start, end)


class CustomerReportForm(PeriodForm):
    customer = forms.CharField(required=False, max_length=150,
                               help_text="username, user id or credit account id")


@admin.register(OfficerLogEntry)
class OfficerLogEntryAdmin(OfficerAdminMixin, admin.ModelAdmin):
    list_display = ["timestamp", "action", "content_type", "object_pk", "object_repr", "actor",
                    "remote_addr", "cid"]
    list_filter = ["action", "content_type", "timestamp"]
    search_fields = ["object_pk", "object_repr", "actor__username", "=remote_addr", "cid"]
    date_hierarchy = "timestamp"
    list_select_related = ["content_type", "actor"]
    show_full_result_count = False
    export_fields = ["id", "timestamp", "action", "content_type", "object_pk", "object_repr",
                     "actor", "remote_addr", "cid", "changes"]


@admin.register(OfficerJournalEntry)
class OfficerJournalEntryAdmin(OfficerAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "amount", "currency", "account", "merchant",
                    "fraud_decision", "actor_type", "actor_id", "id"]
    list_filter = ["kind", "fraud_decision", "currency", "actor_type", "occurred_at"]
    search_fields = ["=id", "=account__id", "account__owner__username", "merchant", "actor_id"]
    date_hierarchy = "occurred_at"
    list_select_related = ["account"]
    show_full_result_count = False
    export_fields = ["id", "occurred_at", "created_at", "kind", "account", "amount", "currency",
                     "card", "merchant", "description", "reverses", "original", "hold",
                     "fraud_decision", "fraud_reasons", "actor_type", "actor_id"]


@admin.register(OfficerAlert)
class OfficerAlertAdmin(OfficerAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "status", "score", "source", "account", "decided_by",
                    "decided_at", "id"]
    list_filter = ["status", "source", "created_at", "decided_at"]
    search_fields = ["=id", "=entry__id", "account__owner__username", "decided_by__username"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "decided_by"]
    export_fields = ["id", "created_at", "status", "score", "reasons", "source", "entry",
                     "account", "card", "decided_by", "decided_at", "note"]


@admin.register(AuditSeal)
class AuditSealAdmin(OfficerAdminMixin, admin.ModelAdmin):
    """Seals are visible to whoever may read audit events."""

    list_display = ["id", "table", "sealed_at", "first_id", "last_id", "row_count", "hash"]
    list_filter = ["table", "sealed_at"]
    exclude = ["row_digests"]
    export_fields = ["id", "table", "sealed_at", "first_id", "last_id", "row_count",
                     "prev_hash", "hash"]

    def _concrete_perm(self) -> str:
        return CONSOLE_PERMISSION


@admin.register(AuditArchive)
class AuditArchiveAdmin(AuditSealAdmin):
    list_display = ["id", "table", "created_at", "first_id", "last_id", "row_count",
                    "file_name", "file_sha256"]
    list_filter = ["table", "created_at"]
    exclude = []
    export_fields = ["id", "table", "created_at", "cutoff", "first_id", "last_id",
                     "row_count", "file_name", "file_sha256", "signature"]
