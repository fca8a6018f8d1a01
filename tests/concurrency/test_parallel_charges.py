"""Parallel charges over HTTP against PostgreSQL row locks."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.test import override_settings

from ledger.models import JournalEntry
from tests.factories import TEST_PASSWORD, CustomerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


# the ledger alone: fraud velocity rules would (rightly) decline a burst of 20 charges
@override_settings(LEDGER_PREAUTH="ledger.preauth.approve_all")
def test_twenty_threads_limit_covers_exactly_ten(live_server):
    holder = CustomerFactory(credit_limit=10_000)
    account = holder.credit_accounts.get()
    token = requests.post(f"{live_server.url}/api/v1/auth/token/",
                          json={"username": holder.username, "password": TEST_PASSWORD},
                          timeout=10).json()["access"]
    url = f"{live_server.url}/api/v1/accounts/{account.pk}/charges/"
    barrier = threading.Barrier(20)
    observed_available: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        from django.db import connections

        while not stop.is_set():
            with connections["default"].cursor() as cur:
                cur.execute("SELECT credit_limit - posted - pending FROM accounts_creditaccount "
                            "WHERE id = %s", [account.pk])
                observed_available.append(cur.fetchone()[0])
        connections["default"].close()

    def charge(_: int) -> requests.Response:
        barrier.wait()
        return requests.post(url, json={"amount": 1000, "currency": "EUR"}, timeout=30,
                             headers={"Authorization": f"Bearer {token}",
                                      "Idempotency-Key": uuid.uuid4().hex})

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(charge, range(20)))
    stop.set()
    watcher.join()

    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10, [r.text for r in responses if r.status_code != 201][:3]
    refused = [r.json()["code"] for r in responses if r.status_code != 201]
    assert refused == ["insufficient_credit"] * 10
    account.refresh_from_db()
    assert (account.posted, account.available) == (10_000, 0)
    assert JournalEntry.objects.filter(account=account).count() == 10
    assert observed_available and min(observed_available) >= 0
    assert connection.vendor == "postgresql"
