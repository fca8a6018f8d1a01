import json

import pytest

from compliance.models import AuditEvent
from ledger.idempotency import stored_key
from ledger.models import IdempotencyRecord, JournalEntry
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def charge_url(user):
    return f"/api/v1/accounts/{user.credit_accounts.get().pk}/charges/"


def test_charge_answers_contract_shape(customer, api, idem):
    r = api(customer).post(charge_url(customer), {"amount": 1234, "currency": "EUR",
                                                  "merchant": "shop"}, format="json", **idem())
    assert r.status_code == 201, r.content
    body = r.json()
    assert {"id", "status", "amount", "currency", "account", "fraud"} <= body.keys()
    assert body["amount"] == 1234 and body["status"] == "posted"
    assert body["fraud"]["decision"] == "approve" and body["fraud"]["reasons"] == []


def test_missing_idempotency_key_is_400_and_writes_nothing(customer, api):
    r = api(customer).post(charge_url(customer), {"amount": 1, "currency": "EUR"}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_missing"
    assert not JournalEntry.objects.exists()


@pytest.mark.parametrize("key", ["x" * 256, "caf\u00e9", "tab\there"])
def test_invalid_idempotency_key(customer, api, key):
    r = api(customer).post(charge_url(customer), {"amount": 1, "currency": "EUR"}, format="json",
                           HTTP_IDEMPOTENCY_KEY=key)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_invalid"


def test_same_key_same_body_replays_one_charge(customer, api):
    client = api(customer)
    first = client.post(charge_url(customer), {"amount": 500, "currency": "EUR"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(charge_url(customer), {"amount": 500, "currency": "EUR"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert again.json() == first.json()
    assert JournalEntry.objects.count() == 1
    acc = customer.credit_accounts.get()
    assert acc.posted == 500


def test_replay_from_database_when_cache_is_empty(customer, api):
    from django.core.cache import cache

    client = api(customer)
    first = client.post(charge_url(customer), {"amount": 500, "currency": "EUR"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k-db")
    cache.clear()
    again = client.post(charge_url(customer), {"amount": 500, "currency": "EUR"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k-db")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert JournalEntry.objects.count() == 1


def test_same_key_other_body_is_422(customer, api):
    client = api(customer)
    client.post(charge_url(customer), {"amount": 500, "currency": "EUR"}, format="json",
                HTTP_IDEMPOTENCY_KEY="k-2")
    r = client.post(charge_url(customer), {"amount": 501, "currency": "EUR"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="k-2")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_mismatch"
    assert JournalEntry.objects.count() == 1


def test_same_key_other_user_is_independent(customer, api):
    other = CustomerFactory()
    a = api(customer).post(charge_url(customer), {"amount": 1, "currency": "EUR"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="shared")
    b = api(other).post(charge_url(other), {"amount": 1, "currency": "EUR"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_business_refusal_is_stored_and_replayed(customer, api):
    client = api(customer)
    body = {"amount": 100_001, "currency": "EUR"}
    r1 = client.post(charge_url(customer), body, format="json", HTTP_IDEMPOTENCY_KEY="big")
    assert r1.status_code == 402 and r1.json()["code"] == "insufficient_credit"
    assert r1["Content-Type"] == "application/problem+json"
    r2 = client.post(charge_url(customer), body, format="json", HTTP_IDEMPOTENCY_KEY="big")
    assert r2.status_code == 402 and r2["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.filter(key=stored_key("big")).count() == 1
    assert AuditEvent.objects.filter(event_type="request.refused").count() == 1


def test_currency_mismatch_is_422(customer, api, idem):
    r = api(customer).post(charge_url(customer), {"amount": 1, "currency": "USD"}, format="json",
                           **idem())
    assert r.status_code == 422 and r.json()["code"] == "currency_mismatch"


@pytest.mark.parametrize("raw", [
    '{"amount": 10.0, "currency": "EUR"}', '{"amount": 1e400, "currency": "EUR"}',
    '{"amount": NaN, "currency": "EUR"}', '{"amount": "10", "currency": "EUR"}',
    '{"amount": 0, "currency": "EUR"}', '{"amount": -1, "currency": "EUR"}',
    '{"amount": true, "currency": "EUR"}', '{"amount": 100000001, "currency": "EUR"}',
    '{"amount": 1, "currency": "eur"}', '{"amount": 1}', '[1, 2]', '"x"',
    '{"amount": 1, "currency": "EUR", "merchant": "a\\u202eb"}',
])
def test_bad_input_is_400_problem_and_writes_nothing(customer, api, idem, raw):
    r = api(customer).post(charge_url(customer), raw, content_type="application/json", **idem())
    assert r.status_code == 400, r.content
    assert r["Content-Type"] == "application/problem+json"
    assert r.json()["code"] in {"validation_error", "malformed_request"}
    assert not JournalEntry.objects.exists() and not IdempotencyRecord.objects.exists()


def test_wrong_content_type_is_415(customer, api, idem):
    r = api(customer).post(charge_url(customer), "amount=1", content_type="text/plain", **idem())
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"


def test_payment_and_transactions_list(customer, api, idem):
    client = api(customer)
    acc = customer.credit_accounts.get()
    client.post(charge_url(customer), {"amount": 800, "currency": "EUR"}, format="json", **idem())
    r = client.post(f"/api/v1/accounts/{acc.pk}/payments/", {"amount": 300, "currency": "EUR"},
                    format="json", **idem())
    assert r.status_code == 201, r.content
    detail = client.get(f"/api/v1/accounts/{acc.pk}/").json()
    assert (detail["posted"], detail["available"]) == (500, 99_500)
    page = client.get(f"/api/v1/accounts/{acc.pk}/transactions/").json()
    assert [e["kind"] for e in page["results"]] == ["payment", "charge"]
    assert "next" in page and json.dumps(page)  # cursor pagination shape


def test_charge_on_someone_elses_account_is_404_and_writes_nothing(customer, api, idem):
    other = CustomerFactory()
    r = api(customer).post(charge_url(other), {"amount": 1, "currency": "EUR"}, format="json",
                           **idem())
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert not JournalEntry.objects.exists()
