"""Findings of the first penetration test, each pinned by a test (none may answer 500)."""

import datetime as dt
import hashlib
import json

import jwt
import pytest
from django.conf import settings

from accounts.models import CreditAccount
from compliance.models import AuditEvent
from creditplatform.errors import SecretsReporterFilter
from ledger import services
from ledger.exceptions import AccountNotActive, CardDeclined
from ledger.models import IdempotencyRecord, JournalEntry
from tests.factories import add_card

pytestmark = pytest.mark.django_db


def url(user, tail="charges/"):
    return f"/api/v1/accounts/{user.credit_accounts.get().pk}/{tail}"


def test_deeply_nested_json_is_400(customer, api, idem):
    body = "[" * 5000 + "]" * 5000
    r = api(customer).post(url(customer), body, content_type="application/json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "malformed_request"


def test_tampered_cursor_is_404(customer, api):
    r = api(customer).get(url(customer, "transactions/"), {"cursor": "cD1nYXJiYWdl"})
    assert r.status_code == 404 and r["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("username", ["ali\u0000ce", "\ud800", "4111111111111111"])
def test_hostile_usernames_are_401_and_audited_safely(api, username):
    r = api().post("/api/v1/auth/token/", json.dumps({"username": username, "password": "x"}),
                   content_type="application/json")
    assert r.status_code in (400, 401)
    labels = " ".join(AuditEvent.objects.values_list("actor_label", flat=True))
    assert "4111111111111111" not in labels


def test_missing_trailing_slash_is_404_problem_json(customer, api, idem):
    r = api(customer).post(url(customer).rstrip("/"), {"amount": 1, "currency": "EUR"},
                           format="json", **idem())
    assert r.status_code == 404 and r["Content-Type"] == "application/problem+json"
    assert not JournalEntry.objects.exists()


def test_validly_signed_token_with_bogus_sub_is_401(customer, api):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    token = jwt.encode({"token_type": "access", "sub": "not-a-uuid", "jti": "j" * 32,
                        "aud": settings.SIMPLE_JWT["AUDIENCE"],
                        "iss": settings.SIMPLE_JWT["ISSUER"], "iat": now, "exp": now + 60},
                       settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me/").status_code == 401


def test_card_testing_without_card_and_through_authorizations_is_declined(customer):
    acc = customer.credit_accounts.get()
    for _ in range(3):
        services.charge_create(actor=customer, account_id=acc.pk, amount=100, currency="EUR")
    for _ in range(2):
        services.hold_create(actor=customer, account_id=acc.pk, amount=100, currency="EUR")
    with pytest.raises(CardDeclined) as err:
        services.hold_create(actor=customer, account_id=acc.pk, amount=100, currency="EUR")
    assert "card_testing" in err.value.extra["reasons"]


@pytest.mark.parametrize("pan", ["4\u00b9\u00b9\u00b91111111111111", "\u0664" * 16])
def test_pan_must_be_ascii_digits(customer, api, idem, pan):
    body = {"account": str(customer.credit_accounts.get().pk), "pan": pan, "exp_month": 12,
            "exp_year": 2099}
    r = api(customer).post("/api/v1/cards/", body, format="json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "invalid_card"


@pytest.mark.parametrize("field,value", [
    ("description", "card 4111 1111 1111 1111 please"), ("merchant", "shop\u200bname"),
    ("merchant", "a\u0085b"), ("description", "x\u2028y"), ("merchant", "tag\U000e0041"),
])
def test_free_text_refuses_pans_and_invisible_characters(customer, api, idem, field, value):
    r = api(customer).post(url(customer), {"amount": 1, "currency": "EUR", field: value},
                           format="json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "validation_error"


def test_idempotency_fingerprint_is_keyed(customer, api, idem):
    body = {"account": str(customer.credit_accounts.get().pk), "pan": "5555555555554444",
            "exp_month": 12, "exp_year": 2099}
    r = api(customer).post("/api/v1/cards/", body, format="json", **idem())
    assert r.status_code == 201
    record = IdempotencyRecord.objects.get()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    plain = hashlib.sha256(f"POST\n/api/v1/cards/\n{canonical}".encode()).hexdigest()
    assert record.fingerprint != plain and len(record.fingerprint) == 64


def test_capture_on_frozen_account_refused(customer):
    acc = customer.credit_accounts.get()
    hold, _ = services.hold_create(actor=customer, account_id=acc.pk, amount=500, currency="EUR")
    CreditAccount.objects.filter(pk=acc.pk).update(status="frozen")
    with pytest.raises(AccountNotActive):
        services.hold_capture(actor=customer, hold_id=hold.pk)


def test_logout_with_bad_token_is_401(api):
    r = api().post("/api/v1/auth/logout/", {"refresh": "garbage"}, format="json")
    assert r.status_code == 401 and r.json()["code"] == "token_not_valid"


def test_error_reports_hide_key_material():
    safe = SecretsReporterFilter().get_safe_settings()
    for name in ("FIELD_KEK", "SECRET_KEY", "REDIS_URL"):
        assert safe[name] != getattr(settings, name) or not getattr(settings, name)


def test_method_titles_have_no_placeholders(customer, api):
    r = api(customer).put("/api/v1/me/", {}, format="json")
    assert r.status_code == 405 and "{" not in r.json()["title"]


def test_card_required_counts_for_partner_but_card_frozen_declines(customer):
    card = add_card(customer)
    from accounts.models import Card

    Card.objects.filter(pk=card.pk).update(status="frozen")
    with pytest.raises(CardDeclined):
        services.charge_create(actor=customer, account_id=customer.credit_accounts.get().pk,
                               amount=100, currency="EUR", card_id=card.pk)
