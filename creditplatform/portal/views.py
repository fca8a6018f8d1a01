"""Portal views: thin. Each parses a form, reads through a selector (the API's access policy)
or calls one service, and renders a template. Someone else's id answers 404, as a missing one.
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import segno
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.forms import AuthenticationForm
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from accounts import services as account_services
from accounts import vault
from accounts.selectors import account_get_for, account_list_for, card_get_for, card_list_for
from compliance import audit
from creditplatform.errors import ApplicationError, NotFoundError
from creditplatform.portal import disputes, selectors, services, statements
from creditplatform.portal.charts import bar_chart_svg
from creditplatform.portal.forms import (
    AnswerForm,
    ContactForm,
    EntryFilterForm,
    ReasonForm,
    TokenForm,
)

PAGE_SIZE = 25
CUSTOMER_GROUP = "customer"


class _Anonymous:
    """The audit principal of a sign-in attempt before anyone is authenticated."""

    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        return ("anonymous", "", self.username[:150])


def is_cardholder(user: Any) -> bool:
    """Active, not staff, in the ``customer`` group: the only people the portal serves."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active
                and not user.is_staff and not user.is_superuser
                and user.groups.filter(name=CUSTOMER_GROUP).exists())


def not_found(request: HttpRequest) -> HttpResponse:
    """The portal's 404 page (a missing object and someone else's answer the same)."""
    return render(request, "portal/404.html", status=404)


def cardholder_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in, a cardholder, past the second factor when one is on; ``NotFoundError``
    from a selector renders the 404 page. Responses are never cached."""

    @functools.wraps(view)
    @never_cache
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect(_with_next("portal:login", request.get_full_path()))
        if not is_cardholder(user):
            return render(request, "portal/staff.html", {"portal_nav": False}, status=403)
        if services.totp_device_for(user=user) and not user.is_verified():
            return redirect(_with_next("portal:login-verify", request.get_full_path()))
        try:
            return view(request, *args, **kwargs)
        except NotFoundError:
            return not_found(request)

    return wrapper


def _with_next(view_name: str, target: str) -> str:
    return f"{reverse(view_name)}?{urlencode({'next': target})}"


def _next_url(request: HttpRequest) -> str:
    """Where to go after sign-in: a path inside the portal only (normalised first, so
    ``/portal/../admin/`` does not leave it), else the dashboard."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    raw_path, _, query = target.partition("?")
    # browsers resolve "..", also percent-encoded, before they send: resolve it first
    path = posixpath.normpath(unquote(raw_path)) if target.startswith("/") else ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()) \
            and (path + "/").startswith("/portal/") and "\\" not in target:
        return path + ("/" if raw_path.endswith("/") and path != "/" else "") + (
            f"?{query}" if query else "")
    return reverse("portal:dashboard")


# --- sign-in -------------------------------------------------------------------------------

@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Password sign-in. django-axes counts failures exactly as for the API's token endpoint
    (``AXES_*`` settings: 10 failures lock the username, and the source address, for 30
    minutes). Every attempt is an ``auth.login`` security event: success, failure and lockout
    are recorded from ``django.contrib.auth``'s signals by ``compliance.receivers`` (``channel:
    session``); a correct password of someone who is not a cardholder is recorded here."""
    if request.user.is_authenticated and is_cardholder(request.user):
        return redirect(_next_url(request))
    form = AuthenticationForm(request, data=request.POST or None)
    status = 200
    if request.method == "POST":
        username = str(request.POST.get("username", ""))[:150]
        anon = _Anonymous(username)
        if form.is_valid():
            user = form.get_user()
            if not is_cardholder(user):
                audit.record("auth.login", actor=anon, outcome="denied",
                             details={"username": username, "channel": "portal",
                                      "reason": "not_a_cardholder"})
                form = AuthenticationForm(request)
                messages.error(request, "This sign-in is for cardholders; staff sign in to "
                                        "the administration site.")
                status = 403
            else:
                login(request, user)  # auth.login event: compliance.receivers (session)
                services.portal_session_register(user=user,
                                                 session_key=request.session.session_key)
                if services.totp_device_for(user=user):
                    return redirect(_with_next("portal:login-verify", _next_url(request)))
                return redirect(_next_url(request))
        elif getattr(request, "axes_locked_out", False):
            # our own page instead of axes' plain-text answer (AxesMiddleware reads this flag)
            request.axes_locked_out = False
            return render(request, "portal/locked.html", status=429)
        else:
            status = 400
    return render(request, "portal/login.html",
                  {"form": form, "next": _next_url(request)}, status=status)


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_verify_view(request: HttpRequest) -> HttpResponse:
    """The second step when the cardholder turned TOTP on (django-otp verifies the code and
    throttles failures); audited ``auth.otp``."""
    user = request.user
    if not user.is_authenticated or not is_cardholder(user):
        return redirect("portal:login")
    device = services.totp_device_for(user=user)
    if device is None or user.is_verified():
        return redirect(_next_url(request))
    form = TokenForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid() and device.verify_token(form.cleaned_data["token"]):
            otp_login(request, device)
            audit.record("auth.otp", actor=user, object_type="user", object_id=user.pk)
            return redirect(_next_url(request))
        audit.record("auth.otp", actor=user, outcome="failure", object_type="user",
                     object_id=user.pk)
        form.add_error(None, "That code is not right; try the current one.")
        status = 400
    return render(request, "portal/login_verify.html",
                  {"form": form, "next": _next_url(request)}, status=status)


@csrf_protect
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out of this browser (POST with CSRF)."""
    if request.user.is_authenticated:
        services.portal_session_forget(session_key=request.session.session_key or "")
        logout(request)  # auth.logout event: compliance.receivers
    messages.info(request, "You are signed out.")
    return redirect("portal:login")


@require_POST
@cardholder_required
def sign_out_everywhere_view(request: HttpRequest) -> HttpResponse:
    """End every portal session and revoke every API refresh token of the cardholder."""
    user = request.user
    result = services.user_sign_out_everywhere(actor=user, user=user)
    logout(request)
    messages.info(request, f"Signed out everywhere: {result['sessions']} browser session(s) "
                           f"ended, {result['api_sign_ins']} app sign-in(s) revoked.")
    return redirect("portal:login")


# --- dashboard and transactions ------------------------------------------------------------

@require_GET
@cardholder_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Each credit account's limit, posted, pending and available; the newest transactions;
    "Was this you?" prompts, fraud notifications and the cardholder's cases."""
    accounts = list(account_list_for(actor=request.user))
    return render(request, "portal/dashboard.html", {
        "accounts": accounts,
        "recent": selectors.recent_entries_for(actor=request.user, limit=10),
        "prompts": disputes.pending_prompts(actor=request.user),
        "cases": disputes.cases_for(actor=request.user),
        "notifications": disputes.notifications_for(actor=request.user),
    })


@require_GET
@cardholder_required
def account_view(request: HttpRequest, account_id: str) -> HttpResponse:
    """One account: balances, transactions with search, filters and pages, and spending
    charts (by week and by merchant, SVG drawn on the server)."""
    account = account_get_for(actor=request.user, account_id=account_id)
    form = EntryFilterForm(request.GET or None)
    filters = selectors.EntryFilter()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.EntryFilter(q=data["q"].strip(), kind=data["kind"],
                                        date_from=data["date_from"], date_to=data["date_to"])
    entries = selectors.entry_search_for(actor=request.user, account_id=account.pk,
                                         filters=filters)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    anchor = selectors.spending_anchor_for(actor=request.user, account_id=account.pk)
    weekly = selectors.spending_by_week_for(actor=request.user, account_id=account.pk,
                                            today=anchor)
    merchants = selectors.spending_by_merchant_for(actor=request.user, account_id=account.pk,
                                                   today=anchor)
    return render(request, "portal/account.html", {
        "account": account, "form": form, "page": page, "query": query.urlencode(),
        "weekly": weekly, "merchants": merchants, "anchor": anchor,
        "weekly_svg": bar_chart_svg(weekly, currency=account.currency, chart_id="weekly",
                                    title=f"Spending by week, 12 weeks to {anchor:%d %b %Y}"),
        "merchant_svg": bar_chart_svg(merchants, currency=account.currency,
                                      chart_id="merchants", horizontal=True,
                                      title=f"Spending by merchant, 90 days to {anchor:%d %b %Y}"),
    })


@require_GET
@cardholder_required
def transaction_view(request: HttpRequest, entry_id: str) -> HttpResponse:
    """One transaction; a charge can be disputed ("I don't recognize this charge") and its
    case status is shown."""
    entry = selectors.entry_get_for(actor=request.user, entry_id=entry_id)
    case = disputes.case_for_entry(actor=request.user, entry=entry)
    return render(request, "portal/transaction.html", {
        "entry": entry, "case": case, "can_answer": disputes.can_answer(case),
        "can_dispute": disputes.can_dispute(entry), "form": ReasonForm(),
        "answer_form": AnswerForm(),
    })


@require_POST
@cardholder_required
def dispute_view(request: HttpRequest, entry_id: str) -> HttpResponse:
    """Open a case for support staff on one of the cardholder's charges."""
    entry = selectors.entry_get_for(actor=request.user, entry_id=entry_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        disputes.open_dispute(actor=request.user, entry=entry,
                              reason=reason or "Cardholder does not recognize this charge.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thank you. We opened a case; our team will look at it.")
    return redirect("portal:transaction", entry_id=entry.pk)


# --- "was this you?" -----------------------------------------------------------------------

@require_POST
@cardholder_required
def alert_answer_view(request: HttpRequest, alert_id: str) -> HttpResponse:
    """Answer "Was this you?" for a flagged transaction (becomes a label for fraud scoring)."""
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose yes or no.")
        return redirect("portal:dashboard")
    try:
        disputes.answer_prompt(actor=request.user, alert_id=alert_id,
                               was_me=form.cleaned_data["was_me"])
    except NotFoundError:
        raise
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thank you for your answer.")
    return redirect(_next_url(request))


# --- cards ---------------------------------------------------------------------------------

@require_GET
@cardholder_required
def cards_view(request: HttpRequest) -> HttpResponse:
    """The cardholder's cards, masked (bin + last4), with freeze/unfreeze buttons."""
    return render(request, "portal/cards.html",
                  {"cards": card_list_for(actor=request.user).select_related("account")})


def _card_status_change(request: HttpRequest, card_id: str, *, freeze: bool) -> HttpResponse:
    card = card_get_for(actor=request.user, card_id=card_id)
    form = ReasonForm(request.POST)
    reason = (form.cleaned_data["reason"] if form.is_valid() else "") or "cardholder, portal"
    change = account_services.card_freeze if freeze else account_services.card_unfreeze
    try:
        card = change(actor=request.user, card=card, reason=reason)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Card ending {card.last4} is "
                                  f"{'frozen' if freeze else 'active again'}.")
    return redirect("portal:cards")


@require_POST
@cardholder_required
def card_freeze_view(request: HttpRequest, card_id: str) -> HttpResponse:
    """Freeze one's own card (``accounts.services.card_freeze``: a ``card.frozen`` event)."""
    return _card_status_change(request, card_id, freeze=True)


@require_POST
@cardholder_required
def card_unfreeze_view(request: HttpRequest, card_id: str) -> HttpResponse:
    """Unfreeze one's own card (``card_unfreeze``: a ``card.unfrozen`` event)."""
    return _card_status_change(request, card_id, freeze=False)


# --- statements ----------------------------------------------------------------------------

@require_GET
@cardholder_required
def statements_view(request: HttpRequest) -> HttpResponse:
    """Billing statements (monthly cycles) where billing runs, and monthly activity
    statements of every account."""
    return render(request, "portal/statements.html", {
        "billing": statements.billing_list_for(actor=request.user),
        "periods": statements.period_list_for(actor=request.user),
    })


def _pdf_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@cardholder_required
def billing_statement_pdf_view(request: HttpRequest, statement_id: str) -> HttpResponse:
    """One billing statement as a PDF."""
    data, name = statements.billing_pdf_for(actor=request.user, statement_id=statement_id)
    return _pdf_response(data, name)


@require_GET
@cardholder_required
def period_statement_pdf_view(request: HttpRequest, account_id: str, year: int,
                              month: int) -> HttpResponse:
    """One calendar month of one account as a PDF (``ledger.selectors.statement_for``)."""
    data, name = statements.period_pdf_for(actor=request.user, account_id=account_id,
                                           year=year, month=month)
    return _pdf_response(data, name)


# --- profile and security --------------------------------------------------------------------

def _mask_dob(value: dt.date | None) -> str:
    return f"**/**/{value.year}" if value else "not on file"


@csrf_protect
@require_http_methods(["GET", "POST"])
@cardholder_required
def profile_view(request: HttpRequest) -> HttpResponse:
    """Personal data shown masked; name and e-mail changes audited (``user_contact_update``)."""
    user = request.user
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.user_contact_update(actor=user, user=user,
                                             email=data["email"] or user.email,
                                             first_name=data["first_name"],
                                             last_name=data["last_name"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Your details were saved.")
                return redirect("portal:profile")
    else:
        form = ContactForm(initial={"first_name": user.first_name, "last_name": user.last_name})
    try:
        identity = vault.customer_profile_read(user=user)
    except ApplicationError:
        identity = {"national_id": None, "date_of_birth": None}
    nid = identity.get("national_id")
    return render(request, "portal/profile.html", {
        "form": form,
        "masked_email": services._mask_email(user.email) if user.email else "not on file",
        "masked_national_id": f"****{nid[-4:]}" if nid else "not on file",
        "masked_dob": _mask_dob(identity.get("date_of_birth")),
    }, status=400 if form.errors else 200)


@require_GET
@cardholder_required
def security_view(request: HttpRequest) -> HttpResponse:
    """Second factor status, setup (QR code as SVG), and sign-out everywhere."""
    user = request.user
    pending = services.totp_device_for(user=user, confirmed=False)
    context: dict[str, Any] = {"enabled": services.totp_device_for(user=user) is not None,
                               "pending": pending, "form": TokenForm()}
    if pending is not None:
        uri = services.totp_provisioning_uri(pending)
        qr = segno.make(uri, error="m")
        svg = qr.svg_inline(omitsize=True, dark="#000", light="#fff", title="Scan with your "
                            "authenticator app")
        context.update(qr_svg=mark_safe(svg),  # noqa: S308 - segno's own SVG of our URI
                       secret=services.totp_secret_text(pending))
    return render(request, "portal/security.html", context)


@require_POST
@cardholder_required
def totp_begin_view(request: HttpRequest) -> HttpResponse:
    """Start turning on TOTP: a new pending device; the security page shows its QR code."""
    try:
        services.totp_device_begin(actor=request.user, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("portal:security")


@sensitive_post_parameters("token")
@require_POST
@cardholder_required
def totp_confirm_view(request: HttpRequest) -> HttpResponse:
    """Confirm the pending device with a current code; this session counts as verified."""
    form = TokenForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError("Enter the 6-digit code.")
        device = services.totp_device_confirm(actor=request.user, user=request.user,
                                              token=form.cleaned_data["token"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        otp_login(request, device)
        messages.success(request, "Two-step sign-in is on.")
    return redirect("portal:security")


@sensitive_post_parameters("token")
@require_POST
@cardholder_required
def totp_remove_view(request: HttpRequest) -> HttpResponse:
    """Turn TOTP off, proven by a current code."""
    form = TokenForm(request.POST)
    try:
        if not form.is_valid():
            raise ApplicationError("Enter the 6-digit code.")
        services.totp_device_remove(actor=request.user, user=request.user,
                                    token=form.cleaned_data["token"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Two-step sign-in is off.")
    return redirect("portal:security")
