"""End to end over HTTP (live server, real PostgreSQL and Redis): the slice a user sees."""

import re

import pytest
import requests
from auditlog.models import LogEntry
from django.contrib.auth.models import Group

from accounts.models import User
from compliance.models import AuditEvent
from ledger.models import IdempotencyRecord, JournalEntry
from tests.factories import TEST_PASSWORD, CustomerFactory, add_card

pytestmark = pytest.mark.django_db(transaction=True)
PAN = "4111111111111111"


def login(base, username):
    r = requests.post(f"{base}/api/v1/auth/token/",
                      json={"username": username, "password": TEST_PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access']}"}


def admin_session(base, username):
    s = requests.Session()
    s.get(f"{base}/admin/login/", timeout=10)
    r = s.post(f"{base}/admin/login/?next=/admin/", timeout=10, data={
        "username": username, "password": TEST_PASSWORD,
        "csrfmiddlewaretoken": s.cookies["csrftoken"], "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"})
    assert r.status_code == 200 and "Log out" in r.text, r.text[:500]
    return s


def test_charge_replay_account_alert_and_audit(live_server):
    base = live_server.url
    holder = CustomerFactory(credit_limit=1_000_000)
    card = add_card(holder, PAN)
    account = holder.credit_accounts.get()
    auth = login(base, holder.username)

    url = f"{base}/api/v1/accounts/{account.pk}/charges/"
    body = {"amount": 1999, "currency": "EUR", "card": str(card.pk), "merchant": "coffee"}
    first = requests.post(url, json=body, headers={**auth, "Idempotency-Key": "e2e-1"}, timeout=10)
    again = requests.post(url, json=body, headers={**auth, "Idempotency-Key": "e2e-1"}, timeout=10)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert JournalEntry.objects.filter(account=account).count() == 1

    shown = requests.get(f"{base}/api/v1/accounts/{account.pk}/", headers=auth, timeout=10).json()
    assert (shown["posted"], shown["available"]) == (1999, 1_000_000 - 1999)
    txs = requests.get(f"{base}/api/v1/accounts/{account.pk}/transactions/", headers=auth,
                       timeout=10).json()["results"]
    assert [t["id"] for t in txs] == [first.json()["id"]]

    # a charge that trips a rule (an amount far above the single-transaction threshold)
    big = requests.post(url, json={**body, "amount": 45_000},
                        headers={**auth, "Idempotency-Key": "e2e-2"}, timeout=10)
    assert big.status_code == 201
    agent = User.objects.create_user(username="agent", password=TEST_PASSWORD, is_staff=True)
    agent.groups.add(Group.objects.get(name="support_agent"))
    page = admin_session(base, "agent").get(f"{base}/admin/fraud/alert/", timeout=10)
    assert page.status_code == 200
    assert "large_amount" in page.text and "411111******1111" in page.text

    # audit entries exist and hold no full PAN anywhere
    assert AuditEvent.objects.filter(event_type="charge.posted").count() == 2
    assert LogEntry.objects.filter(content_type__model="card").exists()
    dump = " ".join(
        [str(e.changes) + str(e.changes_text) for e in LogEntry.objects.all()]
        + [str(e.details) for e in AuditEvent.objects.all()]
        + [str(r.response_body) for r in IdempotencyRecord.objects.all()]
    )
    assert PAN not in re.sub(r"[ -]", "", dump)


def test_other_customers_objects_are_404_over_http(live_server):
    base = live_server.url
    a, b = CustomerFactory(), CustomerFactory()
    auth = login(base, a.username)
    theirs = b.credit_accounts.get().pk
    for path in [f"/api/v1/accounts/{theirs}/", f"/api/v1/accounts/{theirs}/transactions/"]:
        r = requests.get(base + path, headers=auth, timeout=10)
        assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"
    r = requests.post(f"{base}/api/v1/accounts/{theirs}/charges/",
                      json={"amount": 1, "currency": "EUR"},
                      headers={**auth, "Idempotency-Key": "x"}, timeout=10)
    assert r.status_code == 404
    assert not JournalEntry.objects.exists()
