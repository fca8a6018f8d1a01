"""Scale-out on this machine: two gunicorn instances and two Celery workers (a private
RabbitMQ virtual host as the broker) on the same test PostgreSQL and Redis.

Parallel charges go to both instances (a third of them retried with the same Idempotency-Key
on the OTHER instance); then the ledger invariants hold (``verify_ledger`` finds nothing, each
account's ``posted`` is the sum of exactly the charges the clients were told succeeded) and
scoring is exactly-once: one FraudScore per committed charge, each charge's outbox row
published, scored by both workers between them. Processes are ended by their own pid.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import CreditAccount
from creditplatform.webhooks.models import OutboxMessage
from fraud.models import FraudScore
from fraud.receivers import score_message_id
from ledger.models import JournalEntry
from ledger.verification import verify_ledger
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT = 120.0
ACCOUNTS = 6
CHARGES = 72
LIMIT = 20_000  # minor units per account: the charges below overrun it, so some are refused


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)
    return value


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def broker() -> Iterator[str]:
    """A private RabbitMQ virtual host (deleted after): nobody else's worker takes our tasks."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("RabbitMQ is not installed (scripts/services.sh installs it)")
    vhost = f"two-instances-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", vhost)


class Proc:
    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.log.name} exited:\n{self.text()[-3000:]}")
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def child_env(broker: str) -> dict[str, str]:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    db = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return {**os.environ, "DATABASE_URL": db, "CELERY_BROKER_URL": broker,
            "CELERY_TASK_ALWAYS_EAGER": "false", "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "creditplatform.settings", "LOG_LEVEL": "WARNING",
            "CELERY_TRACE_LOG_LEVEL": "INFO", "VAR_DIR": str(settings.VAR_DIR),
            "THROTTLE_USER": "100000/min", "THROTTLE_IP": "100000/min"}


def start_web(processes: list[Proc], tmp_path: Path, env: dict[str, str], name: str) -> str:
    port = free_port()
    p = Proc([str(BIN / "gunicorn"), "creditplatform.wsgi:application", "-b",
              f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120"], env,
             tmp_path / f"web-{name}.log")
    processes.append(p)

    def listening() -> bool:
        p.alive()
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_until(listening, f"gunicorn {name}")
    return f"http://127.0.0.1:{port}"


def start_worker(processes: list[Proc], tmp_path: Path, env: dict[str, str], name: str) -> Proc:
    p = Proc([str(BIN / "celery"), "-A", "creditplatform", "worker", "--concurrency", "2",
              "-n", f"{name}@two-instances", "--without-gossip", "--without-mingle",
              "--without-heartbeat", "-l", "INFO"], env, tmp_path / f"worker-{name}.log")
    processes.append(p)
    wait_until(lambda: p.alive() and "ready." in p.text(), f"worker {name}")
    return p


def test_two_web_instances_and_two_workers_keep_the_ledger_and_score_once(
        tmp_path, broker, processes):
    env = child_env(broker)
    workers = [start_worker(processes, tmp_path, env, f"w{i}") for i in (1, 2)]
    webs = [start_web(processes, tmp_path, env, f"web{i}") for i in (1, 2)]
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
               "every committed charge to be scored")
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
