"""The platform's promises under faults, against the real services (issue 8, item 1).

Promises: no money lost or duplicated, no half-written state, every committed charge scored
exactly once. Each test breaks one thing on purpose, then checks (``assert_invariants``):
the committed charges are exactly those the clients were told succeeded, balances are their
sum, each has exactly one ``FraudScore``, and ``verify_ledger`` and ``verify_audit`` exit 0.

Faults (one test each): Redis SIGKILLed during a burst of charges (a private redis-server);
a gunicorn worker SIGKILLed mid-request, retried with the same key (a private gunicorn, the
request held in the ``LEDGER_PREAUTH`` hook); the PostgreSQL backend terminated
(``pg_terminate_backend``) while the charge holds its account row lock; a Celery worker
SIGKILLed with its score uncommitted (a real worker on a private RabbitMQ vhost); the scoring
task delivered three times; the broker down when the task is enqueued (the outbox keeps it).

Every test prints ``FAULT_SEED``; rerun with ``FAULT_SEED=<n>`` for the same amounts and kill
points.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import requests
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from fraud.models import FraudScore
from ledger import services
from ledger.models import IdempotencyRecord, JournalEntry
from ledger.signals import entry_recorded
from tests.factories import CustomerFactory
from tests.faults.conftest import (
    arm,
    assert_invariants,
    celery_broker,
    entered_pid,
    start_fault_gunicorn,
    start_fault_worker,
)
from tests.support.processes import free_port, kill, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

HTTP_TIMEOUT = 60
APPROVE_ALL = "ledger.preauth.approve_all"  # the bursts measure faults, not velocity rules


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def charge(base: str, user: Any, account: Any, amount: int, key: str,
           merchant: str = "faults") -> requests.Response:
    return requests.post(f"{base}/api/v1/accounts/{account.pk}/charges/",
                         json={"amount": amount, "currency": "EUR", "merchant": merchant},
                         headers={**bearer(user), "Idempotency-Key": key}, timeout=HTTP_TIMEOUT)


def retry_until_answered(send: Any, what: str) -> requests.Response:
    """Retry ``send()`` as a client would: on connection errors and 409 (still in flight)."""
    last: Any = None

    def attempt() -> Any:
        nonlocal last
        try:
            r = send()
        except requests.ConnectionError as exc:
            last = exc
            return None
        last = r
        return None if r.status_code == 409 else r

    return wait_until(attempt, f"{what} (last: {last!r})")


# --- Redis ------------------------------------------------------------------------------------


def test_redis_killed_during_a_burst(live_server, settings, private_redis, fault_seed):
    """Redis (the idempotency fast path, throttles) dies mid-burst: every charge still posts
    once, and every retry with the same key replays from PostgreSQL, never charges again."""
    settings.LEDGER_PREAUTH = APPROVE_ALL
    settings.CACHES = {"default": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis.url,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient",
                    "SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        "KEY_PREFIX": f"faults-{uuid.uuid4().hex[:8]}"}}
    rng = fault_seed
    users = [CustomerFactory(credit_limit=10_000_000) for _ in range(4)]
    accounts = [u.credit_accounts.get() for u in users]
    n = 32
    plan = [(rng.randrange(4), rng.randint(1, 50_000), f"burst-{i}-{rng.getrandbits(40):x}")
            for i in range(n)]
    kill_after = rng.randint(4, n // 2)
    answered = threading.Semaphore(0)
    killed = threading.Event()

    def killer() -> None:
        for _ in range(kill_after):
            answered.acquire()
        private_redis.stop()  # SIGKILL, by pid
        killed.set()

    def send(i: int) -> requests.Response:
        who, amount, key = plan[i]
        try:
            return charge(live_server.url, users[who], accounts[who], amount, key)
        finally:
            answered.release()

    threading.Thread(target=killer, daemon=True).start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = list(pool.map(send, range(n)))
    assert killed.wait(5), "redis was never killed"
    # Redis down is not an outage: every charge of the burst posted
    assert [r.status_code for r in first] == [201] * n, [r.text[:200] for r in first]

    # every client retries with the same key (Redis still dead): replays, no new charges
    with ThreadPoolExecutor(max_workers=8) as pool:
        again = list(pool.map(lambda i: charge(live_server.url, users[plan[i][0]],
                                               accounts[plan[i][0]], plan[i][1], plan[i][2]),
                              range(n)))
    for a, b in zip(first, again, strict=True):
        assert b.status_code == 201 and b.headers.get("Idempotent-Replayed") == "true"
        assert b.json() == a.json()
    accepted = {r.json()["id"]: r.json()["amount"] for r in first}
    assert len(accepted) == n
    assert_invariants(accepted, accounts)


# --- gunicorn -----------------------------------------------------------------------------------


def test_gunicorn_worker_killed_mid_request(tmp_path, gate_dir, processes, fault_seed):
    """A gunicorn worker is SIGKILLed while a charge is inside its transaction (advisory lock
    on the key held); the client retries with the same key: one charge, then replays."""
    user = CustomerFactory(credit_limit=10_000_000)
    account = user.credit_accounts.get()
    _, base = start_fault_gunicorn(processes, tmp_path, gate_dir)
    amount = fault_seed.randint(1, 50_000)
    key = f"sigkill-{fault_seed.getrandbits(40):x}"
    arm(gate_dir, "preauth-sigkill")
    outcome: dict[str, Any] = {}

    def doomed() -> None:
        try:
            outcome["response"] = charge(base, user, account, amount, key, merchant="sigkill")
        except requests.RequestException as exc:
            outcome["error"] = exc

    t = threading.Thread(target=doomed)
    t.start()
    worker_pid = entered_pid(gate_dir, "preauth-sigkill")
    kill(worker_pid)
    t.join(HTTP_TIMEOUT)
    assert "error" in outcome or outcome["response"].status_code >= 500, outcome
    # nothing of the killed request survived
    assert not JournalEntry.objects.filter(account=account).exists()
    assert not IdempotencyRecord.objects.exists()

    retried = retry_until_answered(
        lambda: charge(base, user, account, amount, key, merchant="sigkill"),
        "the retried charge")
    assert retried.status_code == 201, retried.text
    replay = charge(base, user, account, amount, key, merchant="sigkill")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == retried.json()
    assert_invariants({retried.json()["id"]: amount}, [account])


# --- PostgreSQL -----------------------------------------------------------------------------------


def test_postgres_backend_terminated_mid_transaction(live_server, settings, fault_seed):
    """``pg_terminate_backend`` kills the database session of a charge that holds its account
    row lock and has written its entry: all of it rolls back, the request answers 500
    problem+json (nothing stored under the key), and the retry with the same key charges once."""
    settings.LEDGER_PREAUTH = APPROVE_ALL
    user = CustomerFactory(credit_limit=10_000_000)
    account = user.credit_accounts.get()
    amount = fault_seed.randint(1, 50_000)
    key = f"pgterm-{fault_seed.getrandbits(40):x}"
    inside = threading.Event()
    release = threading.Event()
    state: dict[str, Any] = {"armed": True}

    def hold_inside(sender: Any, **kwargs: Any) -> None:
        if not state.pop("armed", False):
            return
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            state["pid"] = cur.fetchone()[0]
        inside.set()
        release.wait(HTTP_TIMEOUT)

    entry_recorded.connect(hold_inside, dispatch_uid="faults.pgterm", weak=False)
    try:
        result: dict[str, Any] = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "r", charge(live_server.url, user, account, amount, key)))
        t.start()
        assert inside.wait(HTTP_TIMEOUT), "the charge never reached its entry"
        dsn = {k: v for k, v in {
            "host": connection.settings_dict["HOST"] or "127.0.0.1",
            "port": connection.settings_dict["PORT"] or 5432,
            "user": connection.settings_dict["USER"],
            "password": connection.settings_dict["PASSWORD"] or None,
            "dbname": connection.settings_dict["NAME"]}.items() if v}
        with psycopg.connect(**dsn, autocommit=True) as other:
            # the charge holds the account row lock right now
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT 1 FROM accounts_creditaccount WHERE id = %s "
                              "FOR UPDATE NOWAIT", [account.pk])
            killed = other.execute("SELECT pg_terminate_backend(%s)", [state["pid"]])
            assert killed.fetchone()[0] is True
        release.set()
        t.join(HTTP_TIMEOUT)
    finally:
        release.set()
        entry_recorded.disconnect(dispatch_uid="faults.pgterm")

    failed = result["r"]
    assert failed.status_code == 500, failed.text
    assert failed.headers["Content-Type"] == "application/problem+json"
    assert not JournalEntry.objects.filter(account=account).exists()
    assert not IdempotencyRecord.objects.exists()

    retried = charge(live_server.url, user, account, amount, key)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    replay = charge(live_server.url, user, account, amount, key)
    assert replay.status_code == 201 and replay.json() == retried.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert_invariants({retried.json()["id"]: amount}, [account])


# --- Celery -------------------------------------------------------------------------------------


def _charges(n: int, rng: Any) -> tuple[Any, dict[str, int]]:
    """``n`` committed charges on one new account (scoring published after each commit)."""
    user = CustomerFactory(credit_limit=10_000_000)
    account = user.credit_accounts.get()
    accepted = {}
    for _ in range(n):
        result = services.charge_create(actor=user, account_id=account.pk,
                                        amount=rng.randint(1, 5_000), currency="EUR",
                                        merchant="faults-celery")
        accepted[str(result.entry.pk)] = result.entry.amount
    return account, accepted


def test_celery_worker_killed_mid_task(tmp_path, gate_dir, processes, rabbit_vhost, settings,
                                       fault_seed):
    """A worker is SIGKILLed while its scoring transaction holds an uncommitted FraudScore:
    the message was not acknowledged (``acks_late``), RabbitMQ redelivers it to the next
    worker, which scores the charge; exactly one score."""
    settings.LEDGER_PREAUTH = APPROVE_ALL
    first = start_fault_worker(processes, tmp_path, rabbit_vhost, gate_dir, "first")
    arm(gate_dir, "score")
    with celery_broker(rabbit_vhost):
        account, accepted = _charges(1, fault_seed)
    pid = entered_pid(gate_dir, "score")
    assert pid == first.pid  # solo pool: the task runs in the worker process itself
    kill(first.pid)
    first.proc.wait(10)
    assert not FraudScore.objects.filter(entry_id__in=accepted).exists()  # rolled back
    second = start_fault_worker(processes, tmp_path, rabbit_vhost, gate_dir, "second")
    assert_invariants(accepted, [account])
    assert "score_entry" in second.text(), second.text()[-2000:]


def test_task_delivered_twice(tmp_path, gate_dir, processes, rabbit_vhost, settings,
                              fault_seed):
    """The scoring task of one charge is delivered three times (the outbox's publish plus two
    duplicates, as an at-least-once broker may): one score, unchanged by the repeats."""
    from fraud.tasks import score_entry

    settings.LEDGER_PREAUTH = APPROVE_ALL
    worker = start_fault_worker(processes, tmp_path, rabbit_vhost, gate_dir, "dup")
    with celery_broker(rabbit_vhost):
        account, accepted = _charges(2, fault_seed)
        entry_id = next(iter(accepted))
        wait_until(lambda: FraudScore.objects.filter(entry_id=entry_id).exists(), "the score")
        before = FraudScore.objects.values().get(entry_id=entry_id)
        results = [score_entry.apply_async(args=[entry_id]) for _ in range(2)]
    wait_until(lambda: all(r.id in worker.text() and
                           worker.text().count(r.id) >= 2 for r in results),
               "the duplicate deliveries to run", 60)
    assert FraudScore.objects.values().get(entry_id=entry_id) == before
    # and in-process, twice more (the eager path the embedded demo uses)
    assert score_entry.apply(args=[entry_id], throw=True).result == before["score"]
    assert FraudScore.objects.values().get(entry_id=entry_id) == before
    assert_invariants(accepted, [account])


def test_broker_down_at_enqueue(tmp_path, gate_dir, processes, rabbit_vhost, settings,
                                fault_seed):
    """The broker is unreachable when charges commit: the charges stand, their scoring waits
    in the transactional outbox, and the relay publishes it once the broker is back."""
    from creditplatform.webhooks.models import OutboxMessage
    from creditplatform.webhooks.outbox import outbox_relay

    settings.LEDGER_PREAUTH = APPROVE_ALL
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}//"  # nothing listens there
    with celery_broker(down):
        account, accepted = _charges(fault_seed.randint(2, 5), fault_seed)
    def pending() -> Any:
        return OutboxMessage.objects.filter(dispatched_at__isnull=True,
                                            payload__args__0__in=list(accepted))

    assert pending().count() == len(accepted)
    assert all(m.attempts >= 1 and m.last_error for m in pending())
    assert not FraudScore.objects.filter(entry_id__in=accepted).exists()

    start_fault_worker(processes, tmp_path, rabbit_vhost, gate_dir, "back")
    with celery_broker(rabbit_vhost):
        # the periodic relay, run now (its backoff put the rows a little in the future); rows
        # another relay holds (the worker runs relays too) are skipped, so relay until done
        wait_until(lambda: outbox_relay(now=timezone.now() + dt.timedelta(hours=1)) >= 0
                   and not pending().exists(), "the outbox rows to be published")
    assert_invariants(accepted, [account])
