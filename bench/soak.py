#!/usr/bin/env python
"""Soak: mixed traffic over HTTP for a long time with a live Celery worker (issue 8, item 5).

Run from the repository root (default 10 minutes measured after a 60 s warm-up)::

    .venv/bin/python bench/soak.py                  # the full run
    .venv/bin/python bench/soak.py --duration 20 --warmup 5 --clients 2   # a dry run

What it does (everything on 127.0.0.1; it cleans up after itself, also on error or Ctrl-C):

1. Creates the database ``creditplatform_soak`` (dropped at the end), flushes Redis **db 13
   only** (cache and Celery broker of the run), migrates, creates ``--accounts`` cardholders
   (``customer_create``, the service layer) in a Django subprocess, with production settings
   and fresh secrets as ``bench/ledger.py`` does (``bench.bench_settings``: the velocity rules'
   thresholds raised, so thousands of charges per account are not declined as velocity abuse).
2. Starts gunicorn (``gthread``, ``--workers`` x ``--threads``) with scoring **queued**
   (``CELERY_TASK_ALWAYS_EAGER=false``, broker Redis db 13) and a Celery worker with its
   embedded beat (``celery -A creditplatform worker -B``: the outbox relay, hold expiry,
   idempotency purge run as in production).
3. ``--clients`` client threads loop over a weighted mix for ``--warmup`` + ``--duration``
   seconds: charge 50 %, read 25 % (account, transactions page), authorize then capture or void
   10 %, payment 10 %, statement 5 %; every write with a fresh ``Idempotency-Key``.
4. Every ``--sample-every`` seconds it samples: RSS of the gunicorn master and workers and of
   the Celery worker processes (``/proc/<pid>/status`` VmRSS, summed per group), the broker
   queue length (``LLEN celery``), unscored charges and the age of the oldest one (the
   scoring lag, from the database), and undispatched outbox rows.
5. Reports throughput, p50/p99 per operation, errors by status/code, the queue lag, and memory
   growth per group from the first sample after warm-up to the mean of the last quarter
   (target: at most 10 %); writes ``bench/results/soak-<UTC timestamp>.json``; exits 1 when
   memory grew more than 10 % or any 5xx was answered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ledger as L  # noqa: E402 - the shared bench helpers (gunicorn, env, /proc)

DB_NAME = "creditplatform_soak"
REDIS_DB = 13
CELERY = ROOT / ".venv" / "bin" / "celery"
MIX = [("charge", 50), ("read", 25), ("hold", 10), ("payment", 10), ("statement", 5)]
MEMORY_GROWTH_LIMIT = 0.10


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


#: Refusals a correct platform gives to this traffic mix (the ledger saying no), by code.
EXPECTED_REFUSALS = {"insufficient_credit", "payment_exceeds_balance"}


class Client:
    """One keep-alive HTTP connection and one cardholder."""

    def __init__(self, port: int, token: str, account: str, username: str = "",
                 password: str = "") -> None:
        import http.client

        self.port, self.token, self.account = port, token, account
        self.username, self.password = username, password
        self.relogins = 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def relogin(self) -> None:
        """Access tokens live 5 minutes: sign in again, as a real client would."""
        self.token = L.login_all(self.port, [self.username], self.password)[self.username]
        self.relogins += 1

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             idem: bool = False) -> tuple[int, bytes]:
        import http.client

        headers = {"Authorization": f"Bearer {self.token}", "Host": "127.0.0.1"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if idem:
            headers["Idempotency-Key"] = f"soak-{uuid.uuid4().hex}"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                status, body = resp.status, resp.read()
                if status == 401 and self.password and attempt == 0:
                    self.relogin()  # the retry (same Idempotency-Key) runs with the new token
                    headers["Authorization"] = f"Bearer {self.token}"
                    continue
                return status, body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.requests = 0

    def add(self, op: str, seconds: float, status: int, data: bytes, measured: bool) -> None:
        if not measured:
            return
        with self.lock:
            self.requests += 1
            self.latency.setdefault(op, []).append(seconds)
            if status >= 400:
                key = f"{op} {status} {L.problem_code(status, data)}"
                self.errors[key] = self.errors.get(key, 0) + 1


def one_round(client: Client, op: str, stats: Stats, measured: bool, rng: random.Random) -> None:
    acct = client.account
    t0 = time.perf_counter()
    if op == "charge":
        s, d = client.call("POST", f"/api/v1/accounts/{acct}/charges/",
                           {"amount": rng.randint(100, 5000), "currency": "EUR",
                            "merchant": f"soak-{rng.randint(1, 50)}"}, idem=True)
    elif op == "payment":
        s, d = client.call("POST", f"/api/v1/accounts/{acct}/payments/",
                           {"amount": rng.randint(1, 100), "currency": "EUR"}, idem=True)
    elif op == "read":
        s, d = client.call("GET", f"/api/v1/accounts/{acct}/")
        if s == 200:
            s, d = client.call("GET", f"/api/v1/accounts/{acct}/transactions/")
    elif op == "statement":
        s, d = client.call("GET", f"/api/v1/accounts/{acct}/statement/"
                                  "?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z")
    else:  # hold: authorize, then capture or void it
        s, d = client.call("POST", f"/api/v1/accounts/{acct}/authorizations/",
                           {"amount": rng.randint(100, 5000), "currency": "EUR",
                            "merchant": "soak-hotel"}, idem=True)
        if s == 201:
            hold = json.loads(d)["id"]
            verb = "capture" if rng.random() < 0.7 else "void"
            s, d = client.call("POST", f"/api/v1/authorizations/{hold}/{verb}/", {}, idem=True)
    stats.add(op, time.perf_counter() - t0, s, d, measured)


def sampler(stop: threading.Event, every: float, groups: dict[str, Any], samples: list[dict],
            t_start: float) -> None:
    import redis

    r = redis.Redis(host=L.REDIS_HOST, port=L.REDIS_PORT, db=REDIS_DB)
    with L.pg_connect(DB_NAME) as conn:
        while not stop.wait(every):
            row: dict[str, Any] = {"t": round(time.monotonic() - t_start, 1)}
            for name, pids in groups.items():
                row[f"rss_kb_{name}"] = sum(rss_kb(p) for p in pids())
            try:
                row["queue_len"] = int(r.llen("celery"))
            except Exception:  # noqa: BLE001
                row["queue_len"] = None
            unscored, oldest = conn.execute(
                "SELECT count(*), EXTRACT(EPOCH FROM now() - min(e.created_at)) "
                "FROM ledger_journalentry e LEFT JOIN fraud_fraudscore f ON f.entry_id = e.id "
                "WHERE e.kind IN ('charge', 'capture') AND f.entry_id IS NULL").fetchone()
            row["unscored"] = int(unscored)
            row["oldest_unscored_s"] = round(float(oldest), 2) if oldest is not None else 0.0
            row["outbox_pending"] = conn.execute(
                "SELECT count(*) FROM webhooks_outboxmessage WHERE dispatched_at IS NULL"
            ).fetchone()[0] if _has_table(conn, "webhooks_outboxmessage") else None
            samples.append(row)


def _has_table(conn: Any, name: str) -> bool:
    return bool(conn.execute("SELECT to_regclass(%s)", [name]).fetchone()[0])


def growth(samples: list[dict], key: str, warmup_t: float) -> dict[str, Any]:
    after = [s[key] for s in samples if s["t"] >= warmup_t and s.get(key)]
    if len(after) < 2:
        return {"first_kb": None, "last_kb": None, "growth": None}
    tail = after[-max(1, len(after) // 4):]
    last = sum(tail) / len(tail)
    return {"first_kb": after[0], "last_kb": round(last), "max_kb": max(after),
            "growth": round(last / after[0] - 1, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=60, help="warm-up seconds (not measured)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--accounts", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    ap.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    ap.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()
    args.worker_class = "gthread"
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    L.log(f"soak: seed {seed}, {args.duration:g}s measured after {args.warmup:g}s warm-up, "
          f"{args.clients} clients; {L.uptime()}")

    # the shared helpers name their database and Redis db by module constants
    L.DB_NAME, L.REDIS_DB = DB_NAME, REDIS_DB
    L.check_services()
    L.reset_database()
    L.redis_flush()
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    password = secrets.token_urlsafe(16)
    env = L.bench_env(tmp, password, "bench.bench_settings")
    broker = f"redis://{L.REDIS_HOST}:{L.REDIS_PORT}/{REDIS_DB}"
    env.update({"CELERY_TASK_ALWAYS_EAGER": "false", "CELERY_BROKER_URL": broker,
                # the production configuration of docker-compose.yml: scoring is published by
                # the outbox relay, every second, in batches
                "FRAUD_SCORING_NUDGE": "false", "OUTBOX_RELAY_SECONDS": "1"})
    gunicorn: Any = None
    worker: subprocess.Popen | None = None
    try:
        L.run_manage(env, "migrate", "--noinput", "-v0")
        setup = L.run_django_task(env, "setup", {"spread_accounts": args.accounts,
                                                  "variants": [], "pgbench_accounts": 0})
        port = L.free_port()
        gunicorn = L.Gunicorn(env, port, args, tmp / "gunicorn.log")
        gunicorn.wait_ready()
        worker_log = tmp / "worker.log"
        with open(worker_log, "wb") as out:
            worker = subprocess.Popen(
                [str(CELERY), "-A", "creditplatform", "worker", "-B", "--concurrency", "1",
                 "-l", "WARNING", "-s", str(tmp / "beat-schedule")],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        users = setup["spread"]
        tokens = L.login_all(port, [u["username"] for u in users], password)
        L.log(f"gunicorn :{port} (pid {gunicorn.proc.pid}), worker pid {worker.pid}, "
              f"{len(users)} cardholders")

        stats = Stats()
        samples: list[dict] = []
        stop = threading.Event()
        t_start = time.monotonic()
        measure_from = t_start + args.warmup
        until = measure_from + args.duration
        groups = {"web": gunicorn.pids,
                  "worker": lambda: [worker.pid, *L.proc_children(worker.pid)]}
        smp = threading.Thread(target=sampler, args=(stop, args.sample_every, groups, samples,
                                                     t_start), daemon=True)
        smp.start()
        ops = [op for op, _ in MIX]
        weights = [w for _, w in MIX]

        clients: list[Client] = []

        def run_client(i: int) -> None:
            rng = random.Random(seed + i)
            user = users[i % len(users)]
            client = Client(port, tokens[user["username"]], user["account"],
                            user["username"], password)
            clients.append(client)
            while (now := time.monotonic()) < until:
                op = rng.choices(ops, weights)[0]
                try:
                    one_round(client, op, stats, now >= measure_from, rng)
                except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
                    if now >= measure_from:
                        with stats.lock:
                            key = f"{op} transport {type(exc).__name__}"
                            stats.errors[key] = stats.errors.get(key, 0) + 1

        threads = [threading.Thread(target=run_client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # let the worker drain, then take one last sample
        drain_deadline = time.monotonic() + 60
        while time.monotonic() < drain_deadline and samples and samples[-1]["unscored"]:
            time.sleep(args.sample_every)
        stop.set()
        smp.join(args.sample_every + 5)

        warm_t = args.warmup
        per_op = {}
        for op, lat in sorted(stats.latency.items()):
            lat.sort()
            per_op[op] = {"n": len(lat), "p50_ms": L._ms(L.percentile(lat, 50)),
                          "p99_ms": L._ms(L.percentile(lat, 99))}
        measured = [s for s in samples if s["t"] >= warm_t]
        result = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "seed": seed, "config": vars(args), "machine": L.uptime(),
            "requests": stats.requests,
            "throughput_rps": round(stats.requests / args.duration, 1),
            "operations": per_op,
            "errors": stats.errors,
            "server_errors": sum(v for k, v in stats.errors.items()
                                 if k.split()[1].startswith("5")),
            "queue": {
                "max_queue_len": max((s["queue_len"] or 0 for s in measured), default=None),
                "max_oldest_unscored_s": max((s["oldest_unscored_s"] for s in measured),
                                             default=None),
                "final_unscored": samples[-1]["unscored"] if samples else None,
            },
            "memory": {g: growth(samples, f"rss_kb_{g}", warm_t) for g in groups},
            "samples": samples,
        }
        grown = [g for g, m in result["memory"].items()
                 if m["growth"] is not None and m["growth"] > MEMORY_GROWTH_LIMIT]
        # business refusals the mix can meet are fine; anything else (401, 409, 5xx) is not
        result["unexpected_errors"] = sum(
            v for k, v in stats.errors.items() if k.split()[-1] not in EXPECTED_REFUSALS)
        result["relogins"] = sum(c.relogins for c in clients)
        result["ok"] = (not grown and result["server_errors"] == 0
                        and result["unexpected_errors"] == 0)
        L.RESULTS_DIR.mkdir(exist_ok=True)
        out = L.RESULTS_DIR / f"soak-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        out.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nsoak: {stats.requests} requests in {args.duration:g}s = "
              f"{result['throughput_rps']} req/s; server errors {result['server_errors']}, "
              f"unexpected errors {result['unexpected_errors']}, re-logins {result['relogins']}")
        for op, m in per_op.items():
            print(f"  {op:10} n={m['n']:6}  p50 {m['p50_ms']} ms  p99 {m['p99_ms']} ms")
        print(f"  errors: {stats.errors or 'none'}")
        print(f"  queue: {result['queue']}")
        for g, m in result["memory"].items():
            print(f"  rss {g:7} first {m['first_kb']} kB -> last {m['last_kb']} kB "
                  f"(growth {m['growth']}, limit {MEMORY_GROWTH_LIMIT})")
        print(f"  {'OK' if result['ok'] else 'FAILED'}; written {out.relative_to(ROOT)}")
        return 0 if result["ok"] else 1
    finally:
        L.teardown(tmp=tmp, keep_db=args.keep_db, gunicorn=gunicorn,
                   processes=[worker] if worker is not None else [])


if __name__ == "__main__":
    raise SystemExit(main())
