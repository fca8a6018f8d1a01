import pytest
from django.contrib.auth.models import Group

from ledger.models import JournalEntry
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_authorize_capture_void_refund_over_api(customer, api, idem):
    client = api(customer)
    acc = customer.credit_accounts.get()
    r = client.post(f"/api/v1/accounts/{acc.pk}/authorizations/",
                    {"amount": 2500, "currency": "EUR", "merchant": "hotel"}, format="json",
                    **idem())
    assert r.status_code == 201, r.content
    hold = r.json()
    assert hold["status"] == "open" and hold["fraud"]["decision"] == "approve"
    assert client.get(f"/api/v1/accounts/{acc.pk}/").json()["pending"] == 2500
    r = client.post(f"/api/v1/authorizations/{hold['id']}/capture/", {"amount": 2000},
                    format="json", **idem())
    assert r.status_code == 201 and r.json()["captured_amount"] == 2000
    capture_id = r.json()["capture_entry"]
    r = client.post(f"/api/v1/authorizations/{hold['id']}/void/", {}, format="json", **idem())
    assert r.status_code == 409 and r.json()["code"] == "already_captured"

    other = CustomerFactory()
    r = api(other).get(f"/api/v1/authorizations/{hold['id']}/")
    assert r.status_code == 404
    r = api(other).post(f"/api/v1/authorizations/{hold['id']}/capture/", {}, format="json",
                        **idem())
    assert r.status_code == 404

    # refunds need the refund permission: the cardholder gets not-found, an operator succeeds
    r = client.post(f"/api/v1/transactions/{capture_id}/refunds/", {"amount": 500},
                    format="json", **idem())
    assert r.status_code == 404
    ops = UserFactory(is_staff=True)
    ops.groups.add(Group.objects.get(name="platform_admin"))
    r = api(ops).post(f"/api/v1/transactions/{capture_id}/refunds/", {"amount": 500},
                      format="json", **idem())
    assert r.status_code == 201, r.content
    r = api(ops).post(f"/api/v1/transactions/{capture_id}/refunds/", {"amount": 1501},
                      format="json", **idem())
    assert r.status_code == 422 and r.json()["code"] == "refund_exceeds_charge"
    assert JournalEntry.objects.filter(kind="refund").count() == 1


def test_statement_endpoint(customer, api, idem):
    client = api(customer)
    acc = customer.credit_accounts.get()
    client.post(f"/api/v1/accounts/{acc.pk}/charges/", {"amount": 100, "currency": "EUR"},
                format="json", **idem())
    r = client.get(f"/api/v1/accounts/{acc.pk}/statement/",
                   {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["opening_balance"], body["closing_balance"]) == (0, 100)
    assert len(body["entries"]) == 1
    r = client.get(f"/api/v1/accounts/{acc.pk}/statement/", {"start": "bad"})
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
