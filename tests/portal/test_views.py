"""Portal pages with the Django test client: sign-in, lockout, CSRF, the object-access policy
(someone else's id is 404 on every URL with an id), cards, statements, profile, security."""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django_otp.oath import totp
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import Card, SealedTOTPDevice
from accounts.tokens import PlatformRefreshToken
from compliance.models import AuditEvent
from creditplatform.portal.models import PortalSession
from fraud.models import Alert, FraudLabel
from tests.factories import TEST_PASSWORD, UserFactory
from tests.portal.conftest import charge, signed_in, this_month

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> bytes:
    """The page content of a PDF made by fpdf2 (Flate streams inflated; the bytes after the
    compressed data, the end-of-line before ``endstream``, are left over by zlib)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            out.append(zlib.decompressobj().decompress(stream))
        except zlib.error:
            out.append(stream)
    return b"\n".join(out)


# --- sign-in -------------------------------------------------------------------------------

PAGES = ["/portal/", "/portal/cards/", "/portal/statements/", "/portal/profile/",
         "/portal/security/"]


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_a_signed_in_cardholder(url):
    r = Client().get(url)
    assert r.status_code == 302 and r["Location"].startswith("/portal/login/?next=")


def test_sign_in_lands_on_the_dashboard_with_balances(holder):
    client = Client()
    r = client.post("/portal/login/", {"username": holder.username, "password": TEST_PASSWORD},
                    follow=True)
    assert r.status_code == 200
    body = r.content.decode()
    # limit 1,000.00; posted 12.50 + 49.99 = 62.49; available 937.51
    assert "1,000.00 EUR" in body and "62.49 EUR" in body and "937.51 EUR" in body
    assert "Coffee Corner" in body and "Book Shop" in body
    ev = AuditEvent.objects.get(event_type="auth.login", outcome="success",
                                details__path="/portal/login/")
    assert ev.actor_id == str(holder.pk)
    assert PortalSession.objects.filter(user=holder,
                                        session_key=client.session.session_key).exists()


def test_pages_send_csp_and_no_store_headers(holder):
    r = signed_in(holder).get("/portal/")
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert "no-store" in r["Cache-Control"]
    assert r["X-Frame-Options"] == "DENY"


def test_staff_cannot_use_the_portal():
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name="support_agent"))
    client = Client()
    r = client.post("/portal/login/", {"username": staff.username, "password": TEST_PASSWORD})
    assert r.status_code == 403
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(event_type="auth.login", outcome="denied",
                                     details__reason="not_a_cardholder").exists()
    client.force_login(staff)  # e.g. signed in to the admin in the same browser
    assert client.get("/portal/").status_code == 403


def test_wrong_password_then_lockout_after_the_axes_limit(holder):
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    codes = [client.post("/portal/login/", {"username": holder.username,
                                            "password": "wrong"}).status_code
             for _ in range(limit)]
    assert codes == [400] * (limit - 1) + [429]
    r = client.post("/portal/login/", {"username": holder.username, "password": TEST_PASSWORD})
    assert r.status_code == 429 and b"locked" in r.content
    assert "_auth_user_id" not in client.session
    failures = AuditEvent.objects.filter(event_type="auth.login", details__channel="session",
                                         details__username=holder.username)
    assert failures.filter(outcome="failure").count() == limit - 1
    assert failures.filter(outcome="denied", details__reason="locked_out").count() == 2


def test_login_next_only_redirects_inside_the_portal(holder):
    r = Client().post("/portal/login/?next=https://evil.example/",
                      {"username": holder.username, "password": TEST_PASSWORD})
    assert r["Location"] == "/portal/"
    r = Client().post("/portal/login/", {"username": holder.username,
                                         "password": TEST_PASSWORD, "next": "/portal/cards/"})
    assert r["Location"] == "/portal/cards/"
    for sneaky in ("/portal/../admin/", "/portal/%2e%2e/admin/", "/portal/..%2fadmin/",
                   "//evil.example/portal/", "/portal/\\evil"):
        r = Client().post("/portal/login/", {"username": holder.username,
                                             "password": TEST_PASSWORD, "next": sneaky})
        assert r["Location"] == "/portal/", sneaky
    r = Client().post("/portal/login/", {"username": holder.username, "password": TEST_PASSWORD,
                                         "next": "/portal/cards/?page=2"})
    assert r["Location"] == "/portal/cards/?page=2"


def test_logout_is_post_only_and_ends_the_session(holder):
    client = signed_in(holder)
    assert client.get("/portal/logout/").status_code == 405
    assert client.post("/portal/logout/").status_code == 302
    assert client.get("/portal/").status_code == 302
    assert not PortalSession.objects.filter(user=holder).exists()


def test_sign_out_everywhere_ends_other_sessions_and_revokes_api_tokens(holder):
    laptop, phone = signed_in(holder), signed_in(holder)
    refresh = PlatformRefreshToken.for_user(holder)  # an API / mobile app sign-in
    app = Client(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    assert app.get("/api/v1/me/").status_code == 200
    assert phone.get("/portal/").status_code == 200
    r = laptop.post("/portal/logout/everywhere/")
    assert r.status_code == 302 and r["Location"] == "/portal/login/"
    assert phone.get("/portal/").status_code == 302
    assert laptop.get("/portal/").status_code == 302
    token = OutstandingToken.objects.get(jti=refresh["jti"])
    assert BlacklistedToken.objects.filter(token=token).exists()
    assert not Session.objects.filter(session_key__in=PortalSession.objects.values(
        "session_key")).exists()
    ev = AuditEvent.objects.get(event_type="auth.sign_out_everywhere")
    assert ev.details == {"sessions": 2, "api_sign_ins": 1}
    # the API refuses the revoked refresh token
    api = Client().post("/api/v1/auth/token/refresh/", {"refresh": str(refresh)},
                        content_type="application/json")
    assert api.status_code == 401
    # and the access token already issued, at once (not when its 5 minutes run out)
    r = app.get("/api/v1/me/")
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"


# --- CSRF ----------------------------------------------------------------------------------

def test_post_without_csrf_token_is_refused(holder):
    client = signed_in(holder, csrf=True)
    card = holder.test_card
    r = client.post(f"/portal/cards/{card.pk}/freeze/")
    assert r.status_code == 403
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert not AuditEvent.objects.filter(event_type="card.frozen").exists()


def test_login_without_csrf_token_is_refused(holder):
    client = Client(enforce_csrf_checks=True)
    r = client.post("/portal/login/", {"username": holder.username, "password": TEST_PASSWORD})
    assert r.status_code == 403 and "_auth_user_id" not in client.session


# --- cards ---------------------------------------------------------------------------------

def test_cards_are_masked_and_freeze_unfreeze_are_audited(holder):
    client = signed_in(holder, csrf=True)
    card = holder.test_card
    page = client.get("/portal/cards/").content.decode()
    assert "4111111111111111" not in page and "1111" in page and "4111 11" in page
    token = client.cookies["csrftoken"].value
    r = client.post(f"/portal/cards/{card.pk}/freeze/", {"csrfmiddlewaretoken": token})
    assert r.status_code == 302
    card.refresh_from_db()
    assert card.status == Card.Status.FROZEN
    ev = AuditEvent.objects.get(event_type="card.frozen")
    assert ev.actor_id == str(holder.pk) and ev.object_id == str(card.pk)
    assert "Unfreeze card ending 1111" in client.get("/portal/cards/").content.decode()
    client.post(f"/portal/cards/{card.pk}/unfreeze/", {"csrfmiddlewaretoken": token})
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert AuditEvent.objects.filter(event_type="card.unfrozen", actor_id=str(holder.pk)).exists()


# --- the object-access policy: someone else's id is 404, on every URL with an id -----------

def _urls_with_ids(user):
    entry = user.test_entries[0]
    account = user.credit_accounts.get()
    year, month = this_month()
    alert = Alert.objects.create(entry=entry, account=account, card=user.test_card, score=0.9,
                                 reasons=["test"])
    return [
        ("get", f"/portal/accounts/{account.pk}/"),
        ("get", f"/portal/accounts/{account.pk}/statements/{year}-{month}.pdf"),
        ("get", f"/portal/transactions/{entry.pk}/"),
        ("post", f"/portal/transactions/{entry.pk}/dispute/"),
        ("post", f"/portal/alerts/{alert.pk}/answer/"),
        ("post", f"/portal/cards/{user.test_card.pk}/freeze/"),
        ("post", f"/portal/cards/{user.test_card.pk}/unfreeze/"),
    ]


def test_someone_elses_ids_answer_404_and_change_nothing(holder, intruder):
    urls = _urls_with_ids(holder)
    client = signed_in(intruder)
    for method, url in urls:
        r = getattr(client, method)(url, {"was_me": "no", "reason": "x"})
        assert r.status_code == 404, (method, url, r.status_code)
        assert b"Coffee Corner" not in r.content and str(holder.pk).encode() not in r.content
    holder.test_card.refresh_from_db()
    assert holder.test_card.status == Card.Status.ACTIVE
    alert = Alert.objects.get(entry=holder.test_entries[0])
    assert not alert.cardholder_answer and alert.disputed_at is None
    assert not FraudLabel.objects.exists()
    # the owner reaches every one of them
    owner = signed_in(holder)
    for method, url in urls:
        if method == "get":
            assert owner.get(url).status_code == 200, url


@pytest.mark.parametrize("url", [
    "/portal/accounts/not-a-uuid/", "/portal/transactions/00000000-0000-0000-0000-000000000000/",
    "/portal/statements/00000000-0000-0000-0000-000000000000.pdf",
    "/portal/accounts/00000000-0000-0000-0000-000000000000/statements/2026-01.pdf",
])
def test_missing_and_malformed_ids_are_404(holder, url):
    assert signed_in(holder).get(url).status_code == 404


def test_a_period_outside_the_calendar_is_404(holder):
    account = holder.credit_accounts.get()
    r = signed_in(holder).get(f"/portal/accounts/{account.pk}/statements/2026-13.pdf")
    assert r.status_code == 404


# --- transactions, search, charts ----------------------------------------------------------

def test_search_and_filters_narrow_the_transactions(holder):
    client = signed_in(holder)
    account = holder.credit_accounts.get()
    url = f"/portal/accounts/{account.pk}/"
    def table(params):  # the transaction list only (the charts name every merchant)
        return client.get(url, params).content.decode().split('id="tx-h"')[1]

    body = table({"q": "coff"})
    assert "Coffee Corner" in body and "Book Shop" not in body and "1 transaction." in body
    body = table({"q": "NOVELS"})  # description, any case
    assert "Book Shop" in body and "Coffee Corner" not in body
    body = table({"kind": "payment"})
    assert "Book Shop" not in body and "0 transactions" in body
    body = table({"kind": "charge", "date_from": "2000-01-01"})
    assert "2 transactions" in body
    assert "0 transactions" in table({"date_from": "2000-01-01", "date_to": "2000-01-31"})
    r = client.get(url, {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert "start date is after the end date" in r.content.decode()
    r = client.get(url, {"date_to": "9999-12-31"})  # the day after does not exist: no 500
    assert r.status_code == 200 and "between 1900 and 9998" in r.content.decode()


@override_settings(LEDGER_PREAUTH="ledger.preauth.approve_all")  # 30 charges in a row
def test_transactions_are_paginated(holder):
    for i in range(30):
        charge(holder, amount=100 + i, merchant=f"shop-{i:02d}")
    client = signed_in(holder)
    account = holder.credit_accounts.get()
    url = f"/portal/accounts/{account.pk}/"
    first = client.get(url).content.decode().split('id="tx-h"')[1]
    assert "Page 1 of 2" in first and "shop-29" in first and "Coffee Corner" not in first
    second = client.get(url, {"page": 2}).content.decode().split('id="tx-h"')[1]
    assert "Coffee Corner" in second and "shop-29" not in second


def test_spending_charts_are_server_side_svg(holder):
    body = signed_in(holder).get(
        f"/portal/accounts/{holder.credit_accounts.get().pk}/").content.decode()
    assert body.count("<svg") == 2 and "<script" not in body
    assert "Book Shop: 49.99 EUR" in body and "Coffee Corner: 12.50 EUR" in body
    # this week's bar carries both charges
    assert re.search(r"<title>[^<]*: 62\.49 EUR</title>", body)


# --- statements ----------------------------------------------------------------------------

def test_monthly_statement_pdf_lists_the_months_transactions(holder):
    client = signed_in(holder)
    account = holder.credit_accounts.get()
    year, month = this_month()
    listing = client.get("/portal/statements/").content.decode()
    url = f"/portal/accounts/{account.pk}/statements/{year}-{month}.pdf"
    assert url in listing
    r = client.get(url)
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    assert b"Coffee Corner" in text and b"Book Shop" in text and b"62.49 EUR" in text


def test_billing_statement_pdf_and_someone_elses_is_404(holder, intruder):
    from ledger.billing import statement_close
    from tests.factories import ACTOR

    account = holder.credit_accounts.get()
    period_end = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    st = statement_close(actor=ACTOR, account_id=account.pk, period_end=period_end)
    client = signed_in(holder)
    assert f"/portal/statements/{st.pk}.pdf" in client.get("/portal/statements/").content.decode()
    r = client.get(f"/portal/statements/{st.pk}.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    assert b"Minimum payment" in text and b"Book Shop" in text
    assert signed_in(intruder).get(f"/portal/statements/{st.pk}.pdf").status_code == 404


# --- disputes and "was this you?" ----------------------------------------------------------

def test_dispute_opens_a_case_and_shows_its_status(holder):
    client = signed_in(holder)
    entry = holder.test_entries[1]
    page = client.get(f"/portal/transactions/{entry.pk}/").content.decode()
    assert "I don't recognize this charge" in page
    r = client.post(f"/portal/transactions/{entry.pk}/dispute/", {"reason": "not my shop"})
    assert r.status_code == 302
    alert = Alert.objects.get(entry=entry)
    assert alert.source == Alert.Source.DISPUTE and alert.dispute_reason == "not my shop"
    page = client.get(f"/portal/transactions/{entry.pk}/").content.decode()
    assert "Your case" in page and "Open" in page
    assert AuditEvent.objects.filter(event_type="fraud.dispute.opened",
                                     actor_id=str(holder.pk)).exists()
    dashboard = client.get("/portal/").content.decode().split('id="cases-h"')[1]
    assert "Book Shop, 49.99 EUR</a> — Open, reported" in dashboard


def test_was_this_you_answer_becomes_a_label(holder):
    entry = holder.test_entries[0]
    alert = Alert.objects.create(entry=entry, account=entry.account, card=entry.card,
                                 score=0.93, reasons=["model"])
    client = signed_in(holder)
    page = client.get("/portal/").content.decode()
    assert "Was this you?" in page and f"/portal/alerts/{alert.pk}/answer/" in page
    r = client.post(f"/portal/alerts/{alert.pk}/answer/", {"was_me": "no"})
    assert r.status_code == 302
    alert.refresh_from_db()
    assert alert.cardholder_answer == Alert.Answer.NOT_ME
    label = FraudLabel.objects.get(alert=alert)
    assert label.is_fraud is True
    assert "Was this you?" not in client.get("/portal/").content.decode()


# --- profile -------------------------------------------------------------------------------

def test_profile_is_masked_and_changes_are_audited(holder):
    from accounts import vault
    from tests.factories import ACTOR

    vault.customer_profile_set(actor=ACTOR, user=holder, national_id="AB1234567")
    client = signed_in(holder)
    page = client.get("/portal/profile/").content.decode()
    assert "****4567" in page and "AB1234567" not in page
    r = client.post("/portal/profile/", {"first_name": "Ada", "last_name": "Lovelace",
                                         "email": "ada@example.com"})
    assert r.status_code == 302
    holder.refresh_from_db()
    assert (holder.first_name, holder.email) == ("Ada", "ada@example.com")
    page = client.get("/portal/profile/").content.decode()
    assert "a***@example.com" in page and "ada@example.com" not in page
    ev = AuditEvent.objects.get(event_type="profile.contact_updated")
    assert set(ev.details["fields"]) == {"first_name", "last_name", "email"}
    assert "ada@example.com" not in str(ev.details)
    r = client.post("/portal/profile/", {"email": "not an address"})
    assert r.status_code == 400


def test_profile_refuses_another_users_e_mail_in_any_case(holder):
    UserFactory(email="taken@example.org")
    client = signed_in(holder)
    before = holder.email
    r = client.post("/portal/profile/", {"first_name": "Ada", "last_name": "L",
                                         "email": "TAKEN@example.org"})
    assert r.status_code == 400
    holder.refresh_from_db()
    assert holder.email == before and holder.first_name != "Ada"
    assert not AuditEvent.objects.filter(event_type="profile.contact_updated").exists()
    # one's own address in another case is not "taken"
    type(holder).objects.filter(pk=holder.pk).update(email="Own@example.org")
    r = client.post("/portal/profile/", {"first_name": "Ada", "last_name": "L",
                                         "email": "own@EXAMPLE.org"})
    assert r.status_code == 302
    holder.refresh_from_db()
    assert holder.email == "own@EXAMPLE.org"


# --- second factor -------------------------------------------------------------------------

def _code(device: SealedTOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_totp_can_be_turned_on_and_is_then_required_at_sign_in(holder):
    client = signed_in(holder)
    client.post("/portal/security/totp/begin/")
    page = client.get("/portal/security/").content.decode()
    device = SealedTOTPDevice.objects.get(user=holder, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    assert "<svg" in page and secret in page  # QR code and the key to type by hand
    client.post("/portal/security/totp/confirm/", {"token": "000000"})
    device.refresh_from_db()
    assert not device.confirmed
    device.throttle_reset()
    client.post("/portal/security/totp/confirm/", {"token": _code(device)})
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(event_type="auth.totp_enabled").exists()

    fresh = Client()
    r = fresh.post("/portal/login/", {"username": holder.username, "password": TEST_PASSWORD})
    assert r["Location"].startswith("/portal/login/verify/")
    assert fresh.get("/portal/").status_code == 302  # password alone is not enough
    r = fresh.post("/portal/login/verify/", {"token": "123456"})
    assert r.status_code == 400
    assert fresh.get("/portal/cards/")["Location"].startswith("/portal/login/verify/")
    device.refresh_from_db()
    device.throttle_reset()
    device.last_t = -1
    device.save()
    r = fresh.post("/portal/login/verify/", {"token": _code(device)})
    assert r.status_code == 302
    assert fresh.get("/portal/").status_code == 200
    assert AuditEvent.objects.filter(event_type="auth.otp", outcome="failure").count() == 1


def test_fraud_notifications_show_only_to_their_cardholder(holder, intruder):
    from fraud.models import CardholderNotification

    CardholderNotification.objects.create(
        account=holder.credit_accounts.get(), kind=CardholderNotification.Kind.CARD_FROZEN,
        card=holder.test_card, message="We froze your card after a suspicious charge.")
    page = signed_in(holder).get("/portal/").content.decode()
    assert "We froze your card after a suspicious charge." in page
    assert "Manage card •••• 1111" in page
    other = signed_in(intruder).get("/portal/").content.decode()
    assert "We froze your card" not in other
