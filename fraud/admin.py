"""The fraud admin: the support queue (alerts by risk and age, the case page with decisions),
the rules' maker-checker, labels and notifications (read-only), and the model card.

No business rule lives here: every write calls a service in :mod:`fraud.services`, whose
errors are shown as messages.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.admin import PolicyAdminMixin, ReadOnlyAdminMixin
from creditplatform.errors import ApplicationError
from fraud import rules, selectors, services
from fraud.models import Alert, CardholderNotification, FraudLabel, FraudScore, RuleSet


def pr_plot_svg(curve: dict[str, Any], width: int = 420, height: int = 300) -> str:
    """An inline SVG precision-recall plot (no script, no inline CSS: the admin's CSP) of
    ``curve = {"precision": [...], "recall": [...]}`` (equal lengths, values in [0, 1])."""
    from django.utils.html import escape

    pad = 40
    w, h = width - 2 * pad, height - 2 * pad
    pts = sorted(zip(curve.get("recall") or [], curve.get("precision") or [], strict=False))
    line = " ".join(f"{pad + r * w:.1f},{pad + (1 - p) * h:.1f}" for r, p in pts)
    ticks = []
    for i in range(6):
        v = i / 5
        x, y = pad + v * w, pad + (1 - v) * h
        ticks.append(f'<line x1="{x:.1f}" y1="{pad + h}" x2="{x:.1f}" y2="{pad + h + 4}" '
                     f'stroke="#333"/><text x="{x:.1f}" y="{pad + h + 16}" font-size="10" '
                     f'text-anchor="middle">{v:.1f}</text>'
                     f'<line x1="{pad - 4}" y1="{y:.1f}" x2="{pad}" y2="{y:.1f}" stroke="#333"/>'
                     f'<text x="{pad - 6}" y="{y + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{v:.1f}</text>')
    title = escape(str(curve.get("source", "")))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="pr-title">'
            f'<title id="pr-title">Precision-recall curve {title}</title>'
            f'<rect x="{pad}" y="{pad}" width="{w}" height="{h}" fill="none" stroke="#999"/>'
            + "".join(ticks)
            + f'<polyline points="{line}" fill="none" stroke="#205493" stroke-width="2"/>'
            f'<text x="{pad + w / 2}" y="{height - 4}" font-size="11" '
            f'text-anchor="middle">recall</text>'
            f'<text x="12" y="{pad + h / 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {pad + h / 2})">precision</text></svg>')


# --- the support queue -----------------------------------------------------------------------
class DecisionForm(forms.Form):
    """A support decision; the note is mandatory (issue 6, part 5)."""

    decision = forms.ChoiceField(choices=[("confirm_fraud", "Confirm fraud"),
                                          ("false_positive", "False positive"),
                                          ("escalate", "Escalate")],
                                 widget=forms.RadioSelect)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                           max_length=services.NOTE_MAX, strip=True,
                           help_text="Mandatory: what you checked and why you decided so.")


class OpenFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "To decide (open, escalated)"), ("closed", "Decided")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "open":
            return queryset.exclude(status__in=Alert.CLOSED)
        if self.value() == "closed":
            return queryset.filter(status__in=Alert.CLOSED)
        return queryset


@admin.register(Alert)
class AlertAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The queue: highest risk first, then oldest. The case page (``change_view``) shows the
    masked card, reason codes, the features that drove the score, the customer's recent activity
    and, for agents with ``fraud.decide_alert``, the decision form."""

    list_display = ["id", "status", "source", "score_pct", "age", "reasons", "amount",
                    "masked_card", "customer", "cardholder_answer"]
    list_filter = [OpenFilter, "status", "source", "cardholder_answer", "created_at"]
    search_fields = ["=id", "account__owner__username", "entry__merchant"]
    list_select_related = ["entry", "card", "account__owner"]
    ordering = ["-score", "created_at"]

    @admin.display(description="score", ordering="score")
    def score_pct(self, obj: Alert) -> str:
        return f"{obj.score:.3f}"

    @admin.display(description="age", ordering="created_at")
    def age(self, obj: Alert) -> str:
        minutes = int((timezone.now() - obj.created_at).total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} min"
        if minutes < 48 * 60:
            return f"{minutes // 60} h"
        return f"{minutes // 1440} d"

    @admin.display(description="amount (minor units)")
    def amount(self, obj: Alert) -> str:
        return f"{obj.entry.amount} {obj.entry.currency}"

    @admin.display(description="card")
    def masked_card(self, obj: Alert) -> str:
        return obj.card.masked_pan if obj.card else "-"

    @admin.display(description="customer", ordering="account__owner__username")
    def customer(self, obj: Alert) -> str:
        return obj.account.owner.get_username()

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [path("<path:object_id>/decide/", self.admin_site.admin_view(self.decide_view),
                     name="{}_{}_decide".format(*info)), *super().get_urls()]

    def _get_alert(self, request: HttpRequest, object_id: str) -> Alert:
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No such alert.")
        return obj

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        alert = self._get_alert(request, object_id)
        return self._render_case(request, alert, DecisionForm())

    def _render_case(self, request: HttpRequest, alert: Alert, form: DecisionForm,
                     status: int = 200) -> HttpResponse:
        score = FraudScore.objects.filter(entry_id=alert.entry_id).first()
        own = alert.account.owner_id == request.user.pk
        can_decide = (request.user.has_perm("fraud.decide_alert") and not own
                      and not alert.is_closed)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": f"Fraud case {alert.pk}", "alert": alert,
            "entry": alert.entry, "card": alert.card, "fraud_score": score,
            "drivers": selectors.score_drivers(alert.entry, score),
            "activity": selectors.recent_activity(alert=alert),
            "labels": alert.labels.order_by("known_at"),
            "form": form, "can_decide": can_decide, "own_account": own,
            "decide_url": reverse("admin:fraud_alert_decide", args=[alert.pk]),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/fraud/alert/case.html", context, status=status)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        alert = self._get_alert(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:fraud_alert_change", args=[alert.pk]))
        form = DecisionForm(request.POST)
        if not form.is_valid():
            return self._render_case(request, alert, form, status=400)
        try:
            services.alert_decide(actor=request.user, alert_id=alert.pk,
                                  decision=form.cleaned_data["decision"],
                                  note=form.cleaned_data["note"])
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            return self._render_case(request, alert, form,
                                     status=exc.status if exc.status < 500 else 400)
        self.message_user(request, f"Alert {alert.pk}: {form.cleaned_data['decision']} "
                          "recorded.", level=messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:fraud_alert_changelist") + "?queue=open")


@admin.register(FraudScore)
class FraudScoreAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Scores, and the model card (``model-card/``, linked from the fraud app index)."""

    list_display = ["entry", "score", "reasons", "model_version", "latency_ms", "scored_at"]
    list_filter = ["model_version"]

    def get_urls(self) -> list[Any]:
        return [path("model-card/", self.admin_site.admin_view(self.model_card_view),
                     name="fraud_model_card"), *super().get_urls()]

    def model_card_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        card = selectors.model_card()
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": "Fraud model card", "card": card,
                   "plot": pr_plot_svg(card["pr_curve"])
                   if card.get("pr_curve") else None,
                   "has_view_permission": True}
        return TemplateResponse(request, "admin/fraud/model_card.html", context)


@admin.register(FraudLabel)
class FraudLabelAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["entry", "is_fraud", "source", "known_at", "alert", "created_by"]
    list_filter = ["source", "is_fraud"]
    list_select_related = ["created_by"]


@admin.register(CardholderNotification)
class CardholderNotificationAdmin(PolicyAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "account", "created_at", "read_at"]
    list_filter = ["kind"]
    fields = ["id", "kind", "account", "alert", "card", "message", "created_at", "read_at"]
    readonly_fields = fields


# --- rules: maker-checker --------------------------------------------------------------------
class RuleSetForm(forms.ModelForm):
    """The maker's form: values are checked by :func:`fraud.rules.validate`."""

    class Meta:
        model = RuleSet
        fields = ["params", "risky_merchants", "alert_threshold", "freeze_threshold",
                  "review_threshold", "decline_threshold", "change_note"]
        help_texts = {
            "params": "Pre-authorization thresholds (JSON object). Keys: "
                      + ", ".join(rules.PREAUTH_DEFAULTS) + ". Windows in seconds, amounts "
                      "in minor units.",
            "risky_merchants": "Terminal risk list: a JSON list of merchant names.",
            "alert_threshold": "Score in [0, 1] at which an alert opens.",
            "freeze_threshold": "Score in [0, 1] (>= alert) at which the card is also frozen.",
            "review_threshold": "Optional: overrides the model's validated review threshold.",
            "decline_threshold": "Optional: overrides the model's validated decline threshold.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:
            problems = rules.validate(**{k: data.get(k) for k in services.RULE_FIELDS})
            for p in problems:
                self.add_error(None, p)
        return data


class RuleDecisionForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                           required=False, max_length=services.NOTE_MAX,
                           help_text="Mandatory to reject.")


@admin.register(RuleSet)
class RuleSetAdmin(PolicyAdminMixin, admin.ModelAdmin):
    """Versions of the rules. A maker (``fraud.add_ruleset``) drafts and submits; another person
    with ``fraud.approve_ruleset`` approves (it becomes active) or rejects. Only the maker's own
    drafts are editable; everything else is read-only."""

    form = RuleSetForm
    list_display = ["__str__", "status", "alert_threshold", "freeze_threshold", "created_by",
                    "submitted_at", "decided_by", "decided_at"]
    list_filter = ["status"]
    list_select_related = ["created_by", "decided_by"]
    readonly_fields = ["status", "based_on", "created_by", "created_at", "submitted_by",
                       "submitted_at", "decided_by", "decided_at", "decision_note",
                       "superseded_at"]
    change_form_template = "admin/fraud/ruleset/change_form.html"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or (obj.status == RuleSet.Status.DRAFT
                               and obj.created_by_id == request.user.pk)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        s = rules.active_rules()
        return {"params": {k: s[k] for k in rules.PREAUTH_DEFAULTS},
                "risky_merchants": sorted(s["risky_merchants"]),
                "alert_threshold": s["alert_threshold"],
                "freeze_threshold": s["freeze_threshold"],
                "review_threshold": s["review_threshold"],
                "decline_threshold": s["decline_threshold"]}

    def save_model(self, request: HttpRequest, obj: RuleSet, form: Any, change: bool) -> None:
        values = {k: form.cleaned_data.get(k) for k in services.RULE_FIELDS}
        note = form.cleaned_data.get("change_note", "")
        if change:
            saved = services.ruleset_update(actor=request.user, ruleset_id=obj.pk,
                                            change_note=note, **values)
        else:
            saved = services.ruleset_create_draft(actor=request.user, change_note=note,
                                                  **values)
        obj.pk = saved.pk
        obj._state.adding = False

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [path("<path:object_id>/step/<str:step>/",
                     self.admin_site.admin_view(self.step_view), name="{}_{}_step".format(*info)),
                *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            user = request.user
            extra.update({
                "can_submit": obj.status == RuleSet.Status.DRAFT
                and obj.created_by_id == user.pk and user.has_perm("fraud.change_ruleset"),
                "can_decide": obj.status == RuleSet.Status.PENDING
                and user.has_perm("fraud.approve_ruleset")
                and user.pk not in (obj.created_by_id, obj.submitted_by_id),
                "decision_form": RuleDecisionForm(),
            })
        return super().change_view(request, object_id, form_url, extra)

    def step_view(self, request: HttpRequest, object_id: str, step: str) -> HttpResponse:
        """POST ``submit`` (the maker), ``approve`` or ``reject`` (a second person)."""
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such rule set.")
        back = reverse("admin:fraud_ruleset_change", args=[obj.pk])
        if request.method != "POST" or step not in ("submit", "approve", "reject"):
            return HttpResponseRedirect(back)
        form = RuleDecisionForm(request.POST)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        try:
            if step == "submit":
                services.ruleset_submit(actor=request.user, ruleset_id=obj.pk)
            elif step == "approve":
                services.ruleset_approve(actor=request.user, ruleset_id=obj.pk, note=note)
            else:
                services.ruleset_reject(actor=request.user, ruleset_id=obj.pk, note=note)
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, f"Rule set v{obj.pk}: {step} done.", level=messages.SUCCESS)
        return HttpResponseRedirect(back)
