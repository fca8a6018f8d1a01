"""Scale-out on this machine: two gunicorn instances and two Celery workers (a private
RabbitMQ virtual host as the broker) on the same test PostgreSQL and Redis.

Parallel charges go to both instances (a third of them retried with the same Idempotency-Key
on the OTHER instance); then the ledger invariants hold (``verify_ledger`` finds nothing, each
account's ``posted`` is the sum of exactly the charges the clients were told succeeded) and
scoring is exactly-once: one FraudScore per committed charge, each charge's outbox row
published, scored by both workers between them. Processes (:mod:`tests.support.processes`) are
ended by their own pid.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import CreditAccount
from creditplatform.webhooks.models import OutboxMessage
from fraud.models import FraudScore
from fraud.receivers import score_message_id
from ledger.models import JournalEntry
from ledger.verification import verify_ledger
from tests.factories import CustomerFactory
from tests.support.processes import Proc, start_gunicorn, start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

WAIT = 120.0
ACCOUNTS = 6
CHARGES = 72
LIMIT = 20_000  # minor units per account: the charges below overrun it, so some are refused


def test_two_web_instances_and_two_workers_keep_the_ledger_and_score_once(
        tmp_path: Path, rabbit_vhost: str, processes: list[Proc]) -> None:
    # tasks go to the private vhost (not eager); the load is not throttled
    env = {"CELERY_BROKER_URL": rabbit_vhost, "CELERY_TASK_ALWAYS_EAGER": "false",
           "THROTTLE_USER": "100000/min", "THROTTLE_IP": "100000/min"}
    workers = [start_worker(processes, tmp_path, f"w{i}", broker=rabbit_vhost, env=env,
                            timeout=WAIT) for i in (1, 2)]
    webs = [start_gunicorn(processes, tmp_path, f"web{i}", workers=2, env=env, timeout=WAIT)[1]
            for i in (1, 2)]
    holders = [CustomerFactory(credit_limit=LIMIT) for _ in range(ACCOUNTS)]
    accounts = [h.credit_accounts.get() for h in holders]
    tokens = [str(AccessToken.for_user(h)) for h in holders]
    rng = random.Random(9)
    plan = [(i, rng.randrange(ACCOUNTS), rng.randrange(500, 3000), uuid.uuid4().hex)
            for i in range(CHARGES)]

    def post(web: str, n: int, acc: int, amount: int, key: str) -> tuple[int, int, dict]:
        r = requests.post(f"{web}/api/v1/accounts/{accounts[acc].pk}/charges/",
                          json={"amount": amount, "currency": "EUR", "merchant": f"m{n % 7}"},
                          headers={"Authorization": f"Bearer {tokens[acc]}",
                                   "Idempotency-Key": key}, timeout=60)
        return n, r.status_code, (r.json() if r.content else {})

    with ThreadPoolExecutor(max_workers=12) as pool:
        first = list(pool.map(lambda p: post(webs[p[0] % 2], *p), plan))
        # a third again, same key, on the other instance: replays, never a second charge
        again = list(pool.map(lambda p: post(webs[(p[0] + 1) % 2], *p), plan[::3]))

    statuses = Counter(status for _, status, _ in first)
    assert set(statuses) <= {201, 402}, statuses
    assert statuses[201] >= CHARGES // 3 and statuses[402] >= 1, statuses
    accepted = {body["id"]: plan[n][2] for n, status, body in first if status == 201}
    by_n = {n: (status, body) for n, status, body in first}
    for n, status, body in again:
        assert (status, body.get("id")) == (by_n[n][0], by_n[n][1].get("id")), (n, body)
    for web in webs:  # both instances served charges
        assert any(status == 201 for n, status, _ in first if webs[n % 2] == web)

    # exactly-once scoring, by two workers between them
    wait_until(lambda: FraudScore.objects.filter(entry_id__in=accepted).count() == len(accepted),
               "every committed charge to be scored", WAIT)
    time.sleep(1)  # a duplicate would show up now
    ids = [a.pk for a in accounts]
    charges = set(JournalEntry.objects.filter(account_id__in=ids, kind="charge")
                  .values_list("pk", flat=True))
    assert {str(c) for c in charges} == set(accepted)
    assert FraudScore.objects.filter(entry_id__in=charges).count() == len(charges)
    published = OutboxMessage.objects.filter(pk__in=[score_message_id(c) for c in charges])
    assert published.count() == len(charges)
    assert not published.filter(dispatched_at__isnull=True).exists()
    succeeded = [w.text().count("fraud.tasks.score_entry") for w in workers]
    assert all(succeeded), f"a worker scored nothing: {succeeded}"

    # ledger invariants
    assert verify_ledger() == []
    for acc, account in enumerate(accounts):
        account.refresh_from_db()
        mine = sum(plan[n][2] for n, status, _ in first if status == 201 and plan[n][1] == acc)
        assert account.posted == mine and account.available >= 0
    assert sum(CreditAccount.objects.filter(pk__in=ids).values_list("posted", flat=True)) == \
        sum(accepted.values())
