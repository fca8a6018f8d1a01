"""Ledger: exactly-once, race-free money movement, over HTTP against PostgreSQL and Redis.

Every test drives the real stack: pytest-django's ``live_server`` (a threaded WSGI server in this
process, one thread and one database connection per request), ``requests`` from many client
threads, PostgreSQL row and advisory locks, and Redis as the idempotency fast path.

Determinism: the tests never depend on who wins a race, only on what every interleaving must
guarantee. Where a test needs "while the first request is still running", the first request is
held inside the operation by a gate (an event in this process, which the live server's threads
share) until every other request has answered, so the overlap is certain, not likely. Loops are
bounded; waits have generous timeouts and fail with a message instead of hanging. Randomized
workloads print their seed (``LEDGER_RACE_SEED`` reruns one).
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import requests
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections
from requests.structures import CaseInsensitiveDict
from rest_framework_simplejwt.tokens import RefreshToken

import ledger.services
from accounts.models import CreditAccount
from compliance.models import AuditEvent
from fraud.models import FraudScore
from ledger import idempotency
from ledger.api.serializers import ChargeOutput
from ledger.models import Hold, IdempotencyRecord, JournalEntry, Posting
from ledger.preauth import APPROVE, PreauthDecision
from ledger.verification import verify_ledger
from tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

HTTP_TIMEOUT = 60  # seconds; generous, so a loaded CI machine is slow rather than failing
GATE_TIMEOUT = 30  # seconds a gated request or a waiting test waits before failing
THIS_MODULE = __name__
APPROVE_ALL = PreauthDecision(decision=APPROVE, reasons=[])
PREAUTH_HOOK = f"{THIS_MODULE}.gated_preauth"


# --- helpers ------------------------------------------------------------------------------------


def bearer(user: Any) -> str:
    """A real access token for ``user`` (what ``/api/v1/auth/token/`` would hand out)."""
    return str(RefreshToken.for_user(user).access_token)


@dataclass(frozen=True)
class Reply:
    """What a response said. Tests keep these, never ``requests.Response`` objects: a kept
    response keeps its socket open, and the live server's thread (with its database session)
    would idle in keep-alive until the end of the run."""

    status_code: int
    headers: CaseInsensitiveDict
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def reply(response: requests.Response) -> Reply:
    return Reply(response.status_code, CaseInsensitiveDict(response.headers), response.text)


@dataclass
class Api:
    """A minimal HTTP client for one principal of the live server."""

    base: str
    token: str

    def post(self, path: str, body: dict[str, Any], key: str | None) -> Reply:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return reply(requests.post(f"{self.base}{path}", json=body, headers=headers,
                                   timeout=HTTP_TIMEOUT))

    def get(self, path: str) -> Reply:
        return reply(requests.get(f"{self.base}{path}", timeout=HTTP_TIMEOUT,
                                  headers={"Authorization": f"Bearer {self.token}"}))


_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def new_key(prefix: str) -> str:
    """A fresh Idempotency-Key without digit runs: the API refuses keys that could hold a card
    number (a Luhn-valid run of 13-19 digits), which a random hex string now and then is."""
    return f"{prefix}-{uuid.uuid4().hex.translate(_NO_DIGITS)}"


def charges_path(account: CreditAccount) -> str:
    return f"/api/v1/accounts/{account.pk}/charges/"


def code_of(response: Reply) -> str | None:
    if response.headers.get("Content-Type", "").startswith("application/problem+json"):
        return response.json().get("code")
    return None


def replayed(response: Reply) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


def describe(responses: list[Reply]) -> Counter:
    """``Counter`` of (status, problem code, replayed) for assertion messages."""
    return Counter((r.status_code, code_of(r), replayed(r)) for r in responses)


def assert_ledger_verified() -> None:
    """``verify_ledger()`` finds nothing and ``manage.py verify_ledger`` says so (exit 0)."""
    assert [str(m) for m in verify_ledger()] == []
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_ledger", stdout=out, stderr=err)
    assert "ledger verification passed" in out.getvalue() and err.getvalue() == ""


def run_parallel(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(0..n-1)`` in ``n`` threads released together by a barrier; results in order."""
    barrier = threading.Barrier(n, timeout=GATE_TIMEOUT)

    def call(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = GATE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Gate:
    """Pre-authorization hook that holds the first call per merchant until released.

    Installed as ``settings.LEDGER_PREAUTH`` (through :func:`gated_preauth`): the charge
    service calls it inside the idempotency layer's transaction, after the key's in-flight lock
    is taken, i.e. strictly "while the request is running" (whether pre-authorization runs
    before or under the account row lock does not matter to the tests). Later calls for a
    merchant pass straight through; every call approves; ``calls`` counts calls per merchant.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.entered: dict[str, threading.Event] = defaultdict(threading.Event)
        self.release = threading.Event()

    def __call__(self, request: Any) -> Any:
        with self._lock:
            self.calls[request.merchant] += 1
            first = self.calls[request.merchant] == 1
            entered = self.entered[request.merchant]
        if first:
            entered.set()
            if not self.release.wait(GATE_TIMEOUT):
                raise RuntimeError("gate was never released")
        return APPROVE_ALL

    def held(self, merchant: str) -> bool:
        with self._lock:
            return self.entered[merchant].is_set()


_GATE: Gate | None = None


def gated_preauth(request: Any) -> Any:
    """``settings.LEDGER_PREAUTH`` in this module: approve everything, through the gate when
    a test installed one (see :class:`Gate`)."""
    gate = _GATE
    return APPROVE_ALL if gate is None else gate(request)


@pytest.fixture(autouse=True)
def _ledger_only(settings: Any) -> None:
    """These tests are about the ledger: the fraud rules (velocity, card testing) would rightly
    decline bursts of charges, so pre-authorization approves everything here."""
    settings.LEDGER_PREAUTH = PREAUTH_HOOK


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    g = Gate()
    monkeypatch.setattr(f"{THIS_MODULE}._GATE", g)
    try:
        yield g
    finally:
        g.release.set()  # never leave a live-server thread parked, even when a test failed


@pytest.fixture(autouse=True)
def _close_thread_connections() -> Iterator[None]:
    yield
    connections.close_all()


# --- a. parallel charges against one credit line ------------------------------------------------


def test_fifty_parallel_charges_never_overdraw(live_server):
    """50 charges of 30 race for 1,000 of credit: exactly 33 fit, 17 are refused, 10 remain.

    Without the row lock (``select_for_update``) charges read the same ``posted`` and write
    back ``posted + 30`` over each other: more than 33 answer 201 (all 50 did, when tried),
    ``posted`` disagrees with the postings and ``verify_ledger`` names the account. Without
    the credit check the CHECK constraint turns refusals into 500s. A watcher reads the row
    throughout: available never goes negative.
    """
    holder = CustomerFactory(credit_limit=1_000)
    account = holder.credit_accounts.get()
    api = Api(live_server.url, bearer(holder))
    observed: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                with connections["default"].cursor() as cur:
                    cur.execute("SELECT credit_limit - posted - pending FROM "
                                "accounts_creditaccount WHERE id = %s", [account.pk])
                    observed.append(cur.fetchone()[0])
                time.sleep(0.005)
        finally:
            connections["default"].close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        responses = run_parallel(50, lambda i: api.post(
            charges_path(account), {"amount": 30, "currency": "EUR", "merchant": f"m{i}"},
            key=new_key(f"fifty-{i}")))
    finally:
        stop.set()
        watcher.join(GATE_TIMEOUT)

    got = describe(responses)
    assert got == {(201, None, False): 33, (402, "insufficient_credit", False): 17}, got
    # a refusal only ever happens once the line is down to its last 10
    assert {r.json()["available"] for r in responses if r.status_code == 402} == {10}
    account.refresh_from_db()
    assert (account.posted, account.pending, account.available) == (990, 0, 10)
    entries = JournalEntry.objects.filter(account=account)
    assert entries.count() == 33 and {e.amount for e in entries} == {30}
    assert sorted(str(e.pk) for e in entries) == sorted(
        r.json()["id"] for r in responses if r.status_code == 201)
    assert IdempotencyRecord.objects.count() == 50  # refusals are stored for replay too
    assert observed and min(observed) >= 0, observed[:5]
    assert_ledger_verified()


# --- b. one Idempotency-Key sent twenty times at once -------------------------------------------


def test_same_key_in_flight_answers_409_then_replays_the_one_charge(live_server, gate):
    """20 identical requests with one key: one runs; every request that arrives while it runs
    answers 409 ``idempotency_key_in_use``; afterwards the key replays the stored 201.

    The gate holds the request that won the key inside the charge service until all 19 others
    have answered, so "while it runs" is certain. Without the in-flight lock the others would
    run the charge too (more pre-authorization calls and entries, no 409), or queue behind it
    on the account row and never answer while it is held.
    """
    holder = CustomerFactory(credit_limit=10_000)
    account = holder.credit_accounts.get()
    api = Api(live_server.url, bearer(holder))
    body = {"amount": 1_234, "currency": "EUR", "merchant": "gate-b"}
    key = new_key("one-key")
    barrier = threading.Barrier(20, timeout=GATE_TIMEOUT)

    def send(_: int) -> Reply:
        barrier.wait()
        return api.post(charges_path(account), body, key=key)

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures: list[Future] = [pool.submit(send, i) for i in range(20)]
        try:
            wait_until(lambda: gate.held("gate-b"), "one request to enter the charge")
            wait_until(lambda: sum(f.done() for f in futures) >= 19,
                       "the 19 other requests to answer while the first is held")
            while_running = [f.result() for f in futures if f.done()]
            assert gate.calls["gate-b"] == 1 and account.entries.count() == 0
        finally:
            gate.release.set()
        responses = [f.result() for f in futures]

    assert describe(while_running) == {(409, "idempotency_key_in_use", False): 19}
    assert all(r.headers["Content-Type"] == "application/problem+json" for r in while_running)
    first = [r for r in responses if r.status_code == 201]
    assert len(first) == 1 and not replayed(first[0]), describe(responses)
    created = first[0].json()
    assert created["amount"] == 1_234 and created["status"] == "posted"

    again = api.post(charges_path(account), body, key=key)  # replay from Redis
    cache.clear()
    from_db = api.post(charges_path(account), body, key=key)  # replay from PostgreSQL
    for r in (again, from_db):
        assert r.status_code == 201 and replayed(r) and r.json() == created, r.text

    assert gate.calls["gate-b"] == 1  # the operation ran exactly once
    entries = JournalEntry.objects.filter(account=account)
    assert [str(e.pk) for e in entries] == [created["id"]]
    assert IdempotencyRecord.objects.filter(key=idempotency.stored_key(key)).count() == 1
    assert AuditEvent.objects.filter(event_type="charge.posted").count() == 1
    account.refresh_from_db()
    assert account.posted == 1_234
    assert_ledger_verified()


# --- c. Redis unreachable ---------------------------------------------------------------------

UNREACHABLE_CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1: connection refused
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.1,
            "SOCKET_TIMEOUT": 0.1,
        },
    }
}


def cache_round_trips() -> bool:
    """Whether the Django cache of this thread stores and returns a value."""
    probe = uuid.uuid4().hex
    try:
        cache.set(f"probe:{probe}", probe, 30)
        return cache.get(f"probe:{probe}") == probe
    except Exception:  # noqa: BLE001 - a raising cache is as unreachable as a missing one
        return False


def test_redis_down_never_means_a_duplicate_charge(live_server, settings, gate):
    """With the cache pointed at a closed port (the shared Redis keeps running), bursts of
    duplicate requests still charge each key exactly once: the database decides.

    ``caches`` is per thread and rebuilt on ``setting_changed``, and every request of the live
    server runs in a new thread, so the override reaches the application; ``/readyz`` (503,
    cache check failing) proves the application really sees Redis fail.

    Burst 1 (gated, 10 keys x 3): the first request per key is held inside the charge until
    the 20 duplicates answered, all 409. Burst 2 (free-running, 10 other keys x 3): every
    request answers 201 (first or replayed) or 409/503, never a second charge. Retries then
    replay each key's one charge from PostgreSQL.
    """
    settings.CACHES = UNREACHABLE_CACHES
    ready = reply(requests.get(f"{live_server.url}/readyz", timeout=HTTP_TIMEOUT))
    assert ready.status_code == 503 and ready.json()["checks"]["cache"].startswith("error"), \
        ready.text
    assert not cache_round_trips(), "the test thread still reaches a working cache"

    # one cardholder per key: were pre-authorization ever run under the account row lock, a
    # held charge would make the other keys of its account queue instead of running alongside
    holders = [CustomerFactory(credit_limit=100_000) for _ in range(20)]
    accounts = [h.credit_accounts.get() for h in holders]
    apis = [Api(live_server.url, bearer(h)) for h in holders]

    def body(i: int) -> dict[str, Any]:
        return {"amount": 100 + i, "currency": "EUR", "merchant": f"redis-down-{i}"}

    def send(i: int) -> tuple[int, Reply]:
        return i, apis[i].post(charges_path(accounts[i]), body(i), key=keys[i])

    keys = {i: new_key(f"redis-down-{i}") for i in range(20)}

    # burst 1: gated, keys 0..9, three copies each
    with ThreadPoolExecutor(max_workers=30) as pool:
        barrier = threading.Barrier(30, timeout=GATE_TIMEOUT)

        def send_gated(n: int) -> tuple[int, Reply]:
            barrier.wait()
            return send(n % 10)

        futures = [pool.submit(send_gated, n) for n in range(30)]
        try:
            wait_until(lambda: all(gate.held(f"redis-down-{i}") for i in range(10)),
                       "the first request of each key to enter the charge")
            wait_until(lambda: sum(f.done() for f in futures) >= 20,
                       "the 20 duplicates to answer while the first of each key is held")
            early = [f.result()[1] for f in futures if f.done()]
        finally:
            gate.release.set()
        burst1 = [f.result() for f in futures]
    assert describe(early) == {(409, "idempotency_key_in_use", False): 20}
    by_key: dict[int, list[Reply]] = defaultdict(list)
    for i, r in burst1:
        by_key[i].append(r)
    for i in range(10):
        assert sorted(r.status_code for r in by_key[i]) == [201, 409, 409], describe(by_key[i])

    # burst 2: free-running, keys 10..19, three copies each
    burst2 = run_parallel(30, lambda n: send(10 + n % 10))
    for i, r in burst2:
        by_key[i].append(r)
    statuses = Counter(r.status_code for _, r in burst2)
    print(f"burst 2 with Redis down: {dict(statuses)}")
    assert set(statuses) <= {201, 409, 503}, describe([r for _, r in burst2])
    for _, r in burst2:
        if r.status_code == 409:
            assert code_of(r) == "idempotency_key_in_use"

    # retries (bounded) until every key has its answer; each key is one charge, replayed
    ids: dict[int, str] = {}
    for i in range(20):
        for attempt in range(10):
            _, r = send(i)
            if r.status_code == 201:
                break
            assert r.status_code in (409, 503), r.text
            time.sleep(0.2 * (attempt + 1))
        assert r.status_code == 201, f"key {i}: {r.status_code} {r.text}"
        ids[i] = r.json()["id"]
        had_201 = [x for x in by_key[i] if x.status_code == 201]
        assert replayed(r) or not had_201, "a key that was answered 201 ran again"
        assert all(x.json() == r.json() for x in had_201), f"key {i} answered two charges"
        assert sum(not replayed(x) for x in had_201) <= 1

    for i, entry_id in ids.items():
        assert [str(e.pk) for e in JournalEntry.objects.filter(account=accounts[i])] == [entry_id]
        accounts[i].refresh_from_db()
        assert accounts[i].posted == 100 + i
    assert JournalEntry.objects.count() == 20
    assert gate.calls == Counter({f"redis-down-{i}": 1 for i in range(20)})
    assert_ledger_verified()


# --- d. a failure after the ledger write and before the response --------------------------------


class InjectedFault(RuntimeError):
    pass


def _fail_after_charge(monkeypatch: pytest.MonkeyPatch, written: list[str]) -> None:
    real = ledger.services.charge_create

    def charge_then_fail(**kwargs: Any) -> Any:
        result = real(**kwargs)
        written.append(str(result.entry.pk))
        raise InjectedFault("after charge_create returned")

    monkeypatch.setattr(ledger.services, "charge_create", charge_then_fail)


def _fail_in_serializer(monkeypatch: pytest.MonkeyPatch, written: list[str]) -> None:
    def of(cls: Any, entry: Any, **kwargs: Any) -> Any:
        written.append(str(entry.pk))
        raise InjectedFault("while serializing the response")

    monkeypatch.setattr(ChargeOutput, "of", classmethod(of))


def _fail_storing_the_record(monkeypatch: pytest.MonkeyPatch, written: list[str]) -> None:
    """The ledger change is done; writing the idempotency record fails."""
    real = idempotency.IdempotencyRecord

    class Objects:
        def filter(self, **kwargs: Any) -> Any:
            return real.objects.filter(**kwargs)

        def create(self, **kwargs: Any) -> Any:
            written.extend(str(pk) for pk in JournalEntry.objects.values_list("pk", flat=True))
            raise InjectedFault("while storing the idempotency record")

    class Record:
        objects = Objects()

    monkeypatch.setattr(idempotency, "IdempotencyRecord", Record)


@pytest.mark.parametrize("inject", [_fail_after_charge, _fail_in_serializer,
                                    _fail_storing_the_record],
                         ids=["after-charge-create", "in-serializer", "storing-record"])
def test_failure_after_the_ledger_write_commits_nothing_and_retry_runs_once(
        live_server, monkeypatch, inject):
    """A crash between the ledger write and the response is a 500 that leaves no trace: no
    entry, no posting, no balance change, no audit row, no idempotency record (in PostgreSQL or
    Redis), no post-commit scoring. The retry with the same key runs the charge once."""
    holder = CustomerFactory(credit_limit=10_000)
    account = holder.credit_accounts.get()
    api = Api(live_server.url, bearer(holder))
    body = {"amount": 777, "currency": "EUR", "merchant": "fault"}
    key = new_key("fault")
    written: list[str] = []
    real_charge = ledger.services.charge_create
    runs: list[int] = []

    def counting_charge(**kwargs: Any) -> Any:
        runs.append(1)
        return real_charge(**kwargs)

    monkeypatch.setattr(ledger.services, "charge_create", counting_charge)
    with monkeypatch.context() as fault:
        inject(fault, written)
        failed = api.post(charges_path(account), body, key=key)
        assert failed.status_code == 500, failed.text
        assert len(written) == 1, "the fault must fire after the journal entry was written"

    assert not JournalEntry.objects.exists() and not Posting.objects.exists()
    assert not JournalEntry.objects.filter(pk=written[0]).exists()
    assert not IdempotencyRecord.objects.exists()
    assert not AuditEvent.objects.filter(event_type__in=["charge.posted",
                                                         "request.refused"]).exists()
    assert not FraudScore.objects.exists()  # on_commit work never ran
    account.refresh_from_db()
    assert (account.posted, account.pending) == (0, 0)
    assert_ledger_verified()

    retry = api.post(charges_path(account), body, key=key)
    assert retry.status_code == 201 and not replayed(retry), retry.text
    assert retry.json()["id"] != written[0]
    again = api.post(charges_path(account), body, key=key)
    assert again.status_code == 201 and replayed(again) and again.json() == retry.json()
    assert len(runs) == 2  # the failed attempt and the retry; the replay ran nothing
    assert [str(pk) for pk in JournalEntry.objects.values_list("pk", flat=True)] == \
        [retry.json()["id"]]
    assert IdempotencyRecord.objects.filter(key=idempotency.stored_key(key)).count() == 1
    assert FraudScore.objects.filter(entry_id=retry.json()["id"]).count() == 1
    account.refresh_from_db()
    assert account.posted == 777
    assert_ledger_verified()


# --- e. a bank workload with concurrent auditors ------------------------------------------------

N_ACCOUNTS = 4
CREDIT_LIMIT = 20_000
WORKERS = 6
OPS_PER_WORKER = 50  # 300 operations in all
SNAPSHOT_SQL = """
WITH receivable AS (
    SELECT la.credit_account_id AS account_id, sum(p.amount) AS total
    FROM ledger_posting p JOIN ledger_ledgeraccount la ON la.id = p.ledger_account_id
    WHERE la.credit_account_id IS NOT NULL GROUP BY la.credit_account_id
), open_holds AS (
    SELECT account_id, sum(amount) AS total FROM ledger_hold WHERE status = 'open'
    GROUP BY account_id
)
SELECT
    (SELECT coalesce(sum(amount), 0) FROM ledger_posting),
    (SELECT count(*) FROM (SELECT entry_id FROM ledger_posting GROUP BY entry_id
                           HAVING sum(amount) <> 0) unbalanced),
    ca.id::text, ca.credit_limit, ca.posted, coalesce(r.total, 0), ca.pending,
    coalesce(h.total, 0)
FROM accounts_creditaccount ca
LEFT JOIN receivable r ON r.account_id = ca.id
LEFT JOIN open_holds h ON h.account_id = ca.id
ORDER BY ca.id
"""


def snapshot_violations(rows: list[tuple]) -> list[str]:
    """Broken invariants in one consistent snapshot (rows of :data:`SNAPSHOT_SQL`)."""
    problems = []
    for total, unbalanced, acc, limit, posted, receivable, pending, holds in rows:
        if total != 0:
            problems.append(f"sum of all postings is {total}")
        if unbalanced:
            problems.append(f"{unbalanced} unbalanced journal entries visible")
        if posted != receivable:
            problems.append(f"{acc}: posted {posted} != receivable postings {receivable}")
        if pending != holds:
            problems.append(f"{acc}: pending {pending} != open holds {holds}")
        if limit - posted - pending < 0:
            problems.append(f"{acc}: available {limit - posted - pending}")
    return sorted(set(problems))


def reader_connection(*, repeatable_read: bool) -> psycopg.Connection:
    """A connection of its own to the test database (not Django's, not a server thread's)."""
    s = connection.settings_dict
    conn = psycopg.connect(dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or None,
                           host=s["HOST"] or None, port=s["PORT"] or None,
                           autocommit=not repeatable_read)
    if repeatable_read:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
    return conn


@dataclass
class Auditor:
    """Reads the invariants over and over while the workload runs.

    ``repeatable_read``: several statements in one REPEATABLE READ transaction (one snapshot
    for all of them); otherwise one statement in autocommit (one snapshot per statement).
    """

    repeatable_read: bool
    stop: threading.Event
    reads: int = 0
    distinct_states: set = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            with reader_connection(repeatable_read=self.repeatable_read) as conn:
                while True:
                    last = self.stop.is_set()  # one more read after the workload ended
                    self.read(conn)
                    if last:
                        return
                    time.sleep(0.02)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc

    def read(self, conn: psycopg.Connection) -> None:
        if self.repeatable_read:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT coalesce(sum(amount), 0) FROM ledger_posting")
                total = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM (SELECT entry_id FROM ledger_posting "
                            "GROUP BY entry_id HAVING sum(amount) <> 0) u")
                unbalanced = cur.fetchone()[0]
                cur.execute("SELECT id::text, credit_limit, posted, pending "
                            "FROM accounts_creditaccount ORDER BY id")
                accounts = cur.fetchall()
                cur.execute("SELECT la.credit_account_id::text, sum(p.amount) "
                            "FROM ledger_posting p "
                            "JOIN ledger_ledgeraccount la ON la.id = p.ledger_account_id "
                            "WHERE la.credit_account_id IS NOT NULL GROUP BY 1")
                receivable = dict(cur.fetchall())
                cur.execute("SELECT account_id::text, sum(amount) FROM ledger_hold "
                            "WHERE status = 'open' GROUP BY 1")
                holds = dict(cur.fetchall())
            rows = [(total, unbalanced, acc, limit, posted, receivable.get(acc, 0), pending,
                     holds.get(acc, 0)) for acc, limit, posted, pending in accounts]
        else:
            with conn.cursor() as cur:
                cur.execute(SNAPSHOT_SQL)
                rows = cur.fetchall()
        self.reads += 1
        self.distinct_states.add(tuple((r[2], r[4], r[6]) for r in rows))
        for problem in snapshot_violations(rows):
            if len(self.violations) < 20:
                self.violations.append(problem)


@dataclass
class Worker:
    """One client thread of the bank workload: random operations, expected balances kept.

    Holds and entries a worker creates are captured, voided, refunded and reversed only by
    that worker, so those answers are certain (201/200); charges, payments and authorizations
    race with the other workers for credit and may be refused (402/422), never anything else.
    ``posted``/``pending`` are the worker's own contributions to each account, from the answers
    it got; their sums over workers must be the final stored balances.
    """

    index: int
    seed: int
    apis: list[Api]
    operator: Api
    accounts: list[CreditAccount]
    posted: Counter = field(default_factory=Counter)
    pending: Counter = field(default_factory=Counter)
    entries_created: int = 0
    keys: set = field(default_factory=set)
    ops: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    holds: list[tuple[str, int, int]] = field(default_factory=list)  # (id, account, amount)
    entries: list[dict[str, Any]] = field(default_factory=list)  # refundable/reversible
    sent: list[tuple[Api, str, dict[str, Any], str, Reply]] = field(default_factory=list)

    def post(self, api: Api, path: str, body: dict[str, Any]) -> Reply:
        key = new_key(f"w{self.index}")
        self.keys.add(key)
        r = api.post(path, body, key=key)
        self.sent.append((api, path, body, key, r))
        return r

    def expect(self, op: str, r: Reply, allowed: dict[int, str | None]) -> bool:
        """Whether ``r`` succeeded; an answer outside ``allowed`` is recorded as unexpected."""
        self.ops[(op, r.status_code)] += 1
        if r.status_code not in allowed or allowed[r.status_code] != code_of(r):
            self.unexpected.append(f"{op}: {r.status_code} {r.text[:300]}")
            return False
        return r.status_code < 400

    def run(self) -> None:
        rng = random.Random(f"{self.seed}:{self.index}")
        for _ in range(OPS_PER_WORKER):
            choices = ["charge"] * 30 + ["payment"] * 12 + ["authorize"] * 18
            if self.holds:
                choices += ["capture"] * 12 + ["void"] * 6
            if any(e["left"] for e in self.entries):
                choices += ["refund"] * 10
            if any(e["left"] == e["amount"] for e in self.entries):
                choices += ["reversal"] * 4
            if self.sent:
                choices += ["replay"] * 8
            getattr(self, rng.choice(choices))(rng)

    def charge(self, rng: random.Random) -> None:
        a, amount = rng.randrange(N_ACCOUNTS), rng.randint(1, 4_000)
        r = self.post(self.apis[a], charges_path(self.accounts[a]),
                      {"amount": amount, "currency": "EUR", "merchant": f"w{self.index}"})
        if self.expect("charge", r, {201: None, 402: "insufficient_credit"}):
            self.posted[a] += amount
            self.entries_created += 1
            self.entries.append({"id": r.json()["id"], "account": a, "amount": amount,
                                 "left": amount})

    def payment(self, rng: random.Random) -> None:
        a, amount = rng.randrange(N_ACCOUNTS), rng.randint(1, 4_000)
        r = self.post(self.apis[a], f"/api/v1/accounts/{self.accounts[a].pk}/payments/",
                      {"amount": amount, "currency": "EUR"})
        if self.expect("payment", r, {201: None, 422: "payment_exceeds_balance"}):
            self.posted[a] -= amount
            self.entries_created += 1

    def authorize(self, rng: random.Random) -> None:
        a, amount = rng.randrange(N_ACCOUNTS), rng.randint(1, 4_000)
        r = self.post(self.apis[a], f"/api/v1/accounts/{self.accounts[a].pk}/authorizations/",
                      {"amount": amount, "currency": "EUR", "merchant": f"w{self.index}"})
        if self.expect("authorize", r, {201: None, 402: "insufficient_credit"}):
            self.pending[a] += amount
            self.holds.append((r.json()["id"], a, amount))

    def capture(self, rng: random.Random) -> None:
        hold_id, a, amount = self.holds.pop(rng.randrange(len(self.holds)))
        captured = rng.choice([amount, rng.randint(1, amount)])
        body = {} if captured == amount and rng.random() < 0.5 else {"amount": captured}
        r = self.post(self.apis[a], f"/api/v1/authorizations/{hold_id}/capture/", body)
        if self.expect("capture", r, {201: None}):
            self.pending[a] -= amount
            self.posted[a] += captured
            self.entries_created += 1
            entry_id = r.json()["capture_entry"]
            if r.json()["captured_amount"] != captured or entry_id is None:
                self.unexpected.append(f"capture answered {r.text[:300]}")
                return
            self.entries.append({"id": entry_id, "account": a, "amount": captured,
                                 "left": captured})

    def void(self, rng: random.Random) -> None:
        hold_id, a, amount = self.holds.pop(rng.randrange(len(self.holds)))
        r = self.post(self.apis[a], f"/api/v1/authorizations/{hold_id}/void/", {})
        if self.expect("void", r, {200: None}):
            self.pending[a] -= amount

    def refund(self, rng: random.Random) -> None:
        entry = rng.choice([e for e in self.entries if e["left"]])
        amount = rng.randint(1, entry["left"])
        r = self.post(self.operator, f"/api/v1/transactions/{entry['id']}/refunds/",
                      {"amount": amount})
        if self.expect("refund", r, {201: None}):
            entry["left"] -= amount
            self.posted[entry["account"]] -= amount
            self.entries_created += 1

    def reversal(self, rng: random.Random) -> None:
        entry = rng.choice([e for e in self.entries if e["left"] == e["amount"]])
        r = self.post(self.operator, f"/api/v1/transactions/{entry['id']}/reversals/",
                      {"reason": "workload"})
        if self.expect("reversal", r, {201: None}):
            self.entries.remove(entry)
            self.posted[entry["account"]] -= entry["amount"]
            self.entries_created += 1

    def replay(self, rng: random.Random) -> None:
        """The same key and body again: the stored answer, nothing runs twice."""
        api, path, body, key, first = rng.choice(self.sent)
        r = api.post(path, body, key=key)
        self.ops[("replay", r.status_code)] += 1
        if (r.status_code, r.json()) != (first.status_code, first.json()) or not replayed(r):
            self.unexpected.append(f"replay of {path}: {first.status_code} then "
                                   f"{r.status_code} {r.text[:200]}")


def test_bank_workload_conserves_money_at_every_read(live_server):
    """Workers move money among accounts over HTTP while auditors read the invariants from
    their own database connections: the postings always sum to zero, every account's stored
    ``posted``/``pending`` always equal its receivable postings/open holds, available credit is
    never negative -- in every snapshot, not just at the end. At the end the stored balances
    equal what the workers were told, one entry exists per successful operation (replays ran
    nothing), and ``verify_ledger`` passes.
    """
    seed = int(os.environ.get("LEDGER_RACE_SEED", "20261129"))
    print(f"bank workload seed: {seed} (rerun with LEDGER_RACE_SEED={seed})")
    holders = [CustomerFactory(credit_limit=CREDIT_LIMIT) for _ in range(N_ACCOUNTS)]
    accounts = [h.credit_accounts.get() for h in holders]
    admin = UserFactory(is_staff=True)
    admin.groups.add(Group.objects.get(name="platform_admin"))
    apis = [Api(live_server.url, bearer(h)) for h in holders]
    workers = [Worker(index=w, seed=seed, apis=apis, operator=Api(live_server.url, bearer(admin)),
                      accounts=accounts) for w in range(WORKERS)]
    stop = threading.Event()
    auditors = [Auditor(repeatable_read=True, stop=stop),
                Auditor(repeatable_read=False, stop=stop)]
    auditor_threads = [threading.Thread(target=a.run, daemon=True) for a in auditors]
    for t in auditor_threads:
        t.start()
    try:
        wait_until(lambda: all(a.reads or a.error for a in auditors), "the auditors' first read")
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for future in [pool.submit(w.run) for w in workers]:
                future.result()
    finally:
        stop.set()
        for t in auditor_threads:
            t.join(GATE_TIMEOUT)

    context = f"seed={seed}"
    ops = sum((w.ops for w in workers), Counter())
    print(f"operations (kind, status): {sorted(ops.items())}")
    print(f"auditor reads: {[a.reads for a in auditors]}, distinct states seen: "
          f"{[len(a.distinct_states) for a in auditors]}")
    assert sum(ops.values()) == WORKERS * OPS_PER_WORKER, context
    assert [w.unexpected for w in workers] == [[]] * WORKERS, context
    for a in auditors:
        assert a.error is None, f"{context}: auditor failed: {a.error!r}"
        assert a.violations == [], f"{context}: {a.violations}"
        assert a.reads >= 2, context
    for i, account in enumerate(accounts):
        account.refresh_from_db()
        assert account.posted == sum(w.posted[i] for w in workers), f"{context}: account {i}"
        assert account.pending == sum(w.pending[i] for w in workers), f"{context}: account {i}"
        assert account.available >= 0
        assert Hold.objects.filter(account=account, status="open").count() == \
            sum(1 for w in workers for h in w.holds if h[1] == i)
    assert JournalEntry.objects.count() == sum(w.entries_created for w in workers), context
    assert IdempotencyRecord.objects.count() == sum(len(w.keys) for w in workers), context
    with reader_connection(repeatable_read=False) as conn:
        assert snapshot_violations(conn.execute(SNAPSHOT_SQL).fetchall()) == []
    assert_ledger_verified()
