#!/usr/bin/env python
"""Ledger charge benchmark: charges/s and p50/p99 over HTTP vs the raw PostgreSQL ceiling.

Run from the repository root (about 4 minutes, stops by itself, cleans up after itself)::

    .venv/bin/python bench/ledger.py

What it does (everything on 127.0.0.1; see bench/README.md for how to read the output):

1. Creates a dedicated database ``creditplatform_bench`` (dropped at the end), flushes Redis
   database 14 only, runs ``manage.py migrate`` and, in a Django subprocess, creates the
   cardholders (``accounts.services.customer_create``, limits far above what a run can charge)
   plus fixed-id accounts for pgbench.
2. Starts gunicorn (``creditplatform.wsgi:application``, ``DJANGO_DEBUG=false``, real secrets
   generated for the run, ``CELERY_TASK_ALWAYS_EAGER=true``: post-commit fraud scoring runs
   inline in the request), logs every cardholder in through ``POST /api/v1/auth/token/`` and
   drives ``POST /api/v1/accounts/<id>/charges/`` from N client threads (keep-alive
   connections, a unique ``Idempotency-Key`` per request): warm-up, then a fixed measured
   window, for (1) ``spread``: a random account out of many per request, (2) ``hot``: every
   request on one account.
3. After each HTTP scenario runs ``pgbench`` with the same number of clients and a custom script
   of the charge's essential statements on the same tables (row lock, journal entry, two
   postings, balance update, idempotency row, in one transaction): the ceiling.
4. Optionally (default on) repeats both HTTP scenarios with scoring queued to a Redis broker
   (database 14, no worker consumes it) instead of run inline: production's split.
5. Counts the SQL of one charge and cProfiles a few hundred charges in-process (Django test
   client on the same database) to show where a charge's time goes.
6. Prints a table and writes ``bench/results/ledger-<UTC timestamp>.json``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
DB_NAME = "creditplatform_bench"
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 14

AMOUNT, CURRENCY, MERCHANT = 1999, "EUR", "bench-coffee"
CREDIT_LIMIT = 10**12  # minor units: no run comes near it, so no insufficient_credit expected
PGBENCH_LIMIT = 10**15
RECV_BASE = 10_000_000  # ids of the pgbench accounts' receivable ledger accounts: RECV_BASE + n
TARGETS = {"spread": 0.25, "hot": 0.50}
CHARGE_BODY = json.dumps({"amount": AMOUNT, "currency": CURRENCY, "merchant": MERCHANT}).encode()

# The charge's essential statements, on the application's own tables (same indexes, foreign
# keys, CHECK constraints and deferred double-entry triggers), one transaction per charge.
_ACCOUNT = "('00000000-0000-0000-0000-' || lpad(':aid', 12, '0'))::uuid"
_RESPONSE = json.dumps({
    "id": str(uuid.UUID(int=0)), "status": "posted", "amount": AMOUNT, "currency": CURRENCY,
    "account": str(uuid.UUID(int=0)), "card": None, "merchant": MERCHANT, "description": "",
    "occurred_at": "2025-01-01T00:00:00.000000Z", "fraud": {"decision": "approve", "reasons": []},
})
PGBENCH_SCRIPT = rf"""
\set aid random(1, :naccounts)
\set recv :recvbase + :aid
BEGIN;
SELECT id, currency, credit_limit, posted, pending, status FROM accounts_creditaccount
  WHERE id = {_ACCOUNT} FOR UPDATE;
INSERT INTO ledger_journalentry (id, kind, account_id, amount, currency, card_id, merchant,
    description, occurred_at, created_at, reverses_id, original_id, hold_id, fraud_decision,
    fraud_reasons, actor_type, actor_id)
  VALUES (gen_random_uuid(), 'charge', {_ACCOUNT}, {AMOUNT}, '{CURRENCY}', NULL, '{MERCHANT}',
    '', now(), now(), NULL, NULL, NULL, 'approve', '[]', 'user', 'pgbench')
  RETURNING id AS eid \gset
INSERT INTO ledger_posting (entry_id, ledger_account_id, amount, currency)
  VALUES (':eid', :recv, {AMOUNT}, '{CURRENCY}'), (':eid', :settle, -{AMOUNT}, '{CURRENCY}');
UPDATE accounts_creditaccount SET posted = posted + {AMOUNT}, updated_at = now()
  WHERE id = {_ACCOUNT};
INSERT INTO ledger_idempotencyrecord (scope, key, fingerprint, method, route, response_status,
    response_body, created_at, expires_at)
  VALUES ('pgbench', gen_random_uuid()::text, md5(random()::text) || md5(random()::text),
    'POST', '/api/v1/accounts/{uuid.UUID(int=0)}/charges/', 201, '{_RESPONSE}', now(),
    now() + interval '1 day');
COMMIT;
"""


# --- small helpers --------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def uptime() -> str:
    try:
        proc = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
        return proc.stdout.strip()
    except OSError:
        with open("/proc/loadavg") as f:
            return "loadavg " + f.read().strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(round(p / 100 * len(sorted_values) + 0.5))))
    return sorted_values[rank - 1]


def find_pgbench() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    raise SystemExit("pgbench not found (it ships with PostgreSQL: apt-get install postgresql)")


def pg_connect(dbname: str):  # noqa: ANN201 - psycopg is imported lazily (venv only)
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname,
                           autocommit=True, connect_timeout=5)


def redis_flush() -> None:
    """Flush Redis database 14 only (FLUSHDB on a db-14 connection, never FLUSHALL)."""
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5).flushdb()


def redis_llen(name: str) -> int:
    import redis

    return int(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).llen(name))


def redis_throttle_keys() -> dict[str, int]:
    """Sizes of the DRF throttle buckets (pickled lists of request times) in db 14: how many,
    the largest per-user bucket, and each per-IP bucket, in bytes."""
    import redis

    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    sizes = {k.decode(): int(r.strlen(k)) for k in r.scan_iter(match="*throttle*", count=1000)
             if r.type(k) == b"string"}
    out = {"buckets": len(sizes),
           "largest_user_bucket": max((v for k, v in sizes.items() if "throttle_user" in k),
                                      default=0)}
    out.update({k.split(":")[-1]: v for k, v in sizes.items()
                if "throttle_ip" in k or "throttle_login" in k})
    return out


def check_services() -> None:
    problems = []
    try:
        pg_connect("postgres").close()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"PostgreSQL {PG_HOST}:{PG_PORT}: {exc}")
    try:
        import redis

        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis {REDIS_HOST}:{REDIS_PORT}: {exc}")
    if problems:
        raise SystemExit("services not reachable (start them with `make services`):\n  "
                         + "\n  ".join(problems))


def reset_database() -> None:
    with pg_connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    with pg_connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def teardown(*, tmp: Path, keep_db: bool, gunicorn: Any = None,
             processes: list[subprocess.Popen] | tuple = ()) -> None:
    """A bench's ``finally``: stop ``processes`` (SIGTERM, then after 30 s SIGKILL to them and
    their children), then ``gunicorn``; drop the bench database unless ``keep_db``; flush the
    bench's Redis db; delete the temporary directory ``tmp``. Each step runs even if an
    earlier one failed (the first error is raised at the end)."""
    def stop(proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in proc_children(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            proc.kill()

    steps: list[Any] = [lambda p=p: stop(p) for p in processes]
    if gunicorn is not None:
        steps.append(gunicorn.stop)
    if not keep_db:
        steps.append(drop_database)
    steps += [redis_flush, lambda: shutil.rmtree(tmp, ignore_errors=True)]
    error: BaseException | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the rest of the clean-up still runs
            error = error or exc
    if error is not None:
        raise error


# --- CPU accounting (/proc, read-only) ------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)
    except (OSError, IndexError, ValueError):
        return None


def proc_children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            with open(entry / "stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def pids_by_comm(name: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return total - idle, total


class CpuWindow:
    """CPU seconds used by groups of processes between start() and stop().

    Each group is a callable returning its current pids, polled (``poll()``, every ~0.5 s by
    the callers) so that processes starting inside the window count from zero (Django reopens
    its database connections every ``CONN_MAX_AGE`` seconds, so backends come and go). A
    process that starts and exits between two polls is missed.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.base: dict[str, dict[int, int]] = {g: {} for g in groups}
        self.last: dict[str, dict[int, int]] = {g: {} for g in groups}
        self.sys_before = (0, 0)
        self.self_before = 0.0
        self.started = 0.0

    def _sample(self, *, first: bool) -> None:
        for group, pids_of in self.groups.items():
            try:
                pids = pids_of()
            except Exception:  # noqa: BLE001 - a monitoring hiccup must not end the run
                continue
            for pid in pids:
                ticks = proc_cpu_ticks(pid)
                if ticks is None:
                    continue
                if pid not in self.base[group]:
                    self.base[group][pid] = ticks if first else 0
                self.last[group][pid] = ticks

    def start(self) -> None:
        self._sample(first=True)
        self.sys_before = system_cpu()
        self.self_before = time.process_time()
        self.started = time.perf_counter()

    def poll(self) -> None:
        self._sample(first=False)

    def stop(self) -> dict[str, float]:
        self._sample(first=False)
        elapsed = time.perf_counter() - self.started
        out: dict[str, float] = {}
        for group in self.groups:
            ticks = sum(self.last[group][pid] - base for pid, base in self.base[group].items())
            out[group] = ticks / CLK_TCK
        out["client"] = time.process_time() - self.self_before
        busy, total = system_cpu()
        dbusy, dtotal = busy - self.sys_before[0], total - self.sys_before[1]
        ncpu = os.cpu_count() or 1
        out["machine_busy_pct"] = 100.0 * dbusy / dtotal if dtotal else 0.0
        out["machine_busy_cores"] = ncpu * dbusy / dtotal if dtotal else 0.0
        ours = sum(v for k, v in out.items() if not k.startswith("machine_"))
        out["bench_cores"] = ours / elapsed if elapsed else 0.0
        # Everything else: other users of the machine, and PostgreSQL's background processes.
        out["other_cores"] = max(0.0, out["machine_busy_cores"] - out["bench_cores"])
        return out


def run_window(window: CpuWindow, until: float) -> dict[str, float]:
    """Start ``window`` now, poll it every 0.5 s until ``until`` (perf_counter), stop it."""
    window.start()
    next_poll = time.perf_counter() + 0.5
    while (now := time.perf_counter()) < until:
        time.sleep(min(0.05, max(0.0, until - now)))
        if time.perf_counter() >= next_poll:
            window.poll()
            next_poll += 0.5
    return window.stop()


NON_PROCESS_KEYS = ("machine_busy_pct", "machine_busy_cores", "bench_cores", "other_cores")


def bench_backend_pids(mon: Any) -> list[int]:
    rows = mon.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'", [DB_NAME]).fetchall()
    return [r[0] for r in rows]


# --- environment, Django subprocess tasks, gunicorn -----------------------------------------------


def bench_env(var_dir: Path, password: str, settings_module: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "JWT_", "FIELD_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{DB_NAME}",
        "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "FIELD_KEK": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "FIELD_KEYRING_AUTOCREATE": "true",
        "VAR_DIR": str(var_dir),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        # Only logins hash passwords (never the charge path): a fast hasher keeps setup short.
        "PASSWORD_HASHERS": "django.contrib.auth.hashers.MD5PasswordHasher",
        "JWT_ACCESS_MINUTES": "60",  # tokens outlive the run
        # Throttles stay on (their cache round trips are part of a request's cost) but must not
        # be what limits: every client is 127.0.0.1 and the hot scenario is one user.
        "THROTTLE_USER": "1000000/min",
        "THROTTLE_IP": "1000000/min",
        "THROTTLE_LOGIN": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "BENCH_USER_PASSWORD": password,
        "PYTHONUNBUFFERED": "1",
    })
    return with_scoring(env, "inline")


def with_scoring(env: dict[str, str], scoring: str) -> dict[str, str]:
    """``inline``: scoring runs in the request after commit (Celery eager). ``queued``: the
    production configuration of docker-compose.yml: the charge's transaction writes the scoring
    outbox row and nothing is published after commit (``FRAUD_SCORING_NUDGE=false``; the relay,
    not running here, publishes batches); the broker is Redis db 14, flushed at the end."""
    env = dict(env)
    env.pop("CELERY_BROKER_URL", None)
    if scoring == "inline":
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
    else:
        env["CELERY_TASK_ALWAYS_EAGER"] = "false"
        env["CELERY_BROKER_URL"] = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
        env["FRAUD_SCORING_NUDGE"] = "false"
    return env


def run_manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=env, check=True,
                   timeout=300)


def run_django_task(env: dict[str, str], task: str, payload: dict[str, Any],
                    timeout: float = 300) -> dict[str, Any]:
    proc = subprocess.run(
        [str(PYTHON), str(Path(__file__).resolve()), "--django-task", task],
        cwd=ROOT, env=env, input=json.dumps(payload), capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"django task {task} failed:\n{proc.stderr[-4000:]}")
    marker = "BENCH-RESULT "
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(marker))
    return json.loads(line[len(marker):])


class Gunicorn:
    def __init__(self, env: dict[str, str], port: int, args: argparse.Namespace,
                 logfile: Path) -> None:
        self.port = port
        cmd = [str(GUNICORN), "creditplatform.wsgi:application",
               "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--worker-class", args.worker_class, "--timeout", "60",
               "--graceful-timeout", "5", "--keep-alive", "30", "--log-level", "warning",
               "--error-logfile", str(logfile), "--worker-tmp-dir", "/dev/shm"]
        if args.worker_class == "gthread":
            cmd += ["--threads", str(args.threads)]
        self.cmd = cmd
        self.logfile = logfile
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/readyz", headers={"Host": "127.0.0.1"})
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status == 200:
                    return
                last = f"{resp.status} {body[:200]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn not ready in {timeout}s ({last}):\n{self.tail()}")

    def pids(self) -> list[int]:
        return [self.proc.pid, *proc_children(self.proc.pid)]

    def tail(self) -> str:
        try:
            return self.logfile.read_text()[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the master only (SIGTERM): it stops its workers
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for pid in proc_children(self.proc.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
                self.proc.kill()
                self.proc.wait(timeout=5)


# --- HTTP client ----------------------------------------------------------------------------------


def http_json(port: int, method: str, path: str, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data[:2000].decode(errors="replace")
    finally:
        conn.close()


def login_all(port: int, usernames: list[str], password: str) -> dict[str, str]:
    tokens = {}
    for name in usernames:
        for attempt in range(3):
            status, body = http_json(port, "POST", "/api/v1/auth/token/",
                                     {"username": name, "password": password})
            if status == 200 and isinstance(body, dict):
                tokens[name] = body["access"]
                break
            log(f"login {name} attempt {attempt + 1}: {status} {str(body)[:300]}")
            time.sleep(1)
        else:
            raise RuntimeError(f"login {name} failed")
    return tokens


def problem_code(status: int, data: bytes) -> str:
    try:
        code = json.loads(data).get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code) if code else f"http_{status}"


def run_http_load(*, port: int, targets: list[tuple[str, str]], clients: int, warmup: float,
                  duration: float, label: str,
                  cpu_groups: dict[str, Callable[[], list[int]]] | None = None,
                  mon: Any = None, floor: bool = False) -> dict[str, Any]:
    """``clients`` threads POST charges on random ``targets`` (account id, token) for
    ``warmup + duration`` seconds; requests started inside the measured window are counted.

    ``floor=True`` sends ``GET /api/v1/accounts/<id>/`` instead (same token check, throttles,
    middleware, owner-scoped read and JSON, no money moved): what the HTTP stack costs alone.
    Its successes (200) are counted as "charges" so every figure reads the same way."""
    method, path_fmt, body, ok_status = (
        ("GET", "/api/v1/accounts/{}/", None, 200) if floor
        else ("POST", "/api/v1/accounts/{}/charges/", CHARGE_BODY, 201))
    start = time.perf_counter() + 0.2
    measure_from = start + warmup
    stop_at = measure_from + duration
    samples: list[list[tuple[float, float, int, str]]] = [[] for _ in range(clients)]
    warm_counts = [0] * clients

    def worker(i: int) -> None:
        rng = random.Random(1000 + i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        out = samples[i]
        n = 0
        while time.perf_counter() < start:
            time.sleep(0.001)
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            account, token = targets[rng.randrange(len(targets))]
            n += 1
            headers = {"Host": "127.0.0.1", "Content-Type": "application/json",
                       "Authorization": f"Bearer {token}",
                       "Idempotency-Key": f"{label}-{i}-{n}-{uuid.uuid4().hex}"}
            try:
                conn.request(method, path_fmt.format(account), body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                code = "" if status == ok_status else problem_code(status, data)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status, code = 0, f"transport_{type(exc).__name__}"
            t1 = time.perf_counter()
            if t0 >= measure_from:
                out.append((t0 - measure_from, t1 - t0, status, code))
            else:
                warm_counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    cpu = None
    if cpu_groups is not None:
        while time.perf_counter() < measure_from:
            time.sleep(0.01)
        groups = dict(cpu_groups)
        if mon is not None:
            groups["postgres_backends"] = lambda: bench_backend_pids(mon)
        cpu = run_window(CpuWindow(groups), stop_at)
    for t in threads:
        t.join(timeout=120)
    all_samples = [s for per in samples for s in per]
    ok = sorted(lat for _, lat, status, _ in all_samples if status == ok_status)
    every = sorted(lat for _, lat, _, _ in all_samples)
    errors = collections.Counter(code for _, _, status, code in all_samples if status != ok_status)
    timeline = [0] * int(duration + 1)
    for t0, _, status, _ in all_samples:
        if status == ok_status:
            timeline[min(int(t0), len(timeline) - 1)] += 1
    charges = len(ok)
    result = {
        "requests": len(all_samples), "charges": charges, "warmup_requests": sum(warm_counts),
        "charges_per_s": charges / duration,
        "p50_ms": _ms(percentile(ok, 50)), "p90_ms": _ms(percentile(ok, 90)),
        "p99_ms": _ms(percentile(ok, 99)), "max_ms": _ms(ok[-1] if ok else None),
        "p50_ms_all_responses": _ms(percentile(every, 50)),
        "p99_ms_all_responses": _ms(percentile(every, 99)),
        "errors": dict(errors), "charges_per_second_timeline": timeline[: int(duration)],
    }
    if cpu is not None:
        result["cpu_seconds"] = {k: round(v, 3) for k, v in cpu.items()}
        if charges:
            result["cpu_ms_per_charge"] = {
                k: round(1000 * v / charges, 3) for k, v in cpu.items()
                if k not in NON_PROCESS_KEYS}
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# --- pgbench --------------------------------------------------------------------------------------


def run_pgbench(*, pgbench: str, script: Path, log_dir: Path, clients: int, duration: float,
                naccounts: int, settle_id: int, label: str, mon: Any) -> dict[str, Any]:
    prefix = log_dir / f"pgbench-{label}"
    cmd = [pgbench, "-n", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER,
           "-c", str(clients), "-j", str(min(clients, os.cpu_count() or 1)),
           "-T", str(int(duration)), "-r", "-l", "--log-prefix", str(prefix),
           "-D", f"naccounts={naccounts}", "-D", f"recvbase={RECV_BASE}",
           "-D", f"settle={settle_id}", "-f", str(script), DB_NAME]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    time.sleep(min(1.0, duration / 4))
    window_s = max(1.0, duration - 2.0 * min(1.0, duration / 4))
    groups: dict[str, Callable[[], list[int]]] = {
        "postgres_backends": lambda: bench_backend_pids(mon), "pgbench": lambda: [proc.pid]}
    cpu = run_window(CpuWindow(groups), time.perf_counter() + window_s)
    cpu.pop("client", None)  # the orchestrator only polls here
    try:
        out, err = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    text = out + err
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{text[-3000:]}")

    def grab(pattern: str) -> float | None:
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    latencies = []
    for path in log_dir.glob(f"pgbench-{label}.*"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                latencies.append(int(parts[2]) / 1e6)
        path.unlink()
    latencies.sort()
    tps = grab(r"tps = ([0-9.]+)")
    per_statement = [ln.strip() for ln in text.splitlines()
                     if re.match(r"^\s+[0-9.]+\s+\d+\s+\S", ln)]
    result = {
        "command": " ".join(cmd), "tx_per_s": tps, "transactions": grab(
            r"number of transactions actually processed: (\d+)"),
        "failed": grab(r"number of failed transactions: (\d+)"),
        "latency_avg_ms": grab(r"latency average = ([0-9.]+) ms"),
        "p50_ms": _ms(percentile(latencies, 50)), "p99_ms": _ms(percentile(latencies, 99)),
        "per_statement_latency_ms": per_statement,
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
    }
    if tps:
        txs = tps * window_s
        result["cpu_ms_per_tx"] = {k: round(1000 * v / txs, 3) for k, v in cpu.items()
                                   if k not in NON_PROCESS_KEYS}
    return result


# --- Django-side tasks (run in a subprocess with the bench environment) ---------------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")
    import django

    django.setup()


def task_setup(payload: dict[str, Any]) -> dict[str, Any]:
    """Cardholders through the service layer; fixed-id accounts for pgbench through the ORM."""
    _django()
    from accounts import services
    from accounts.models import CreditAccount, User
    from compliance.audit import SystemActor
    from creditplatform import crypto
    from ledger.models import LedgerAccount

    crypto.keyring()  # create the key ring file once, before several workers race to
    actor = SystemActor("bench")
    password = os.environ["BENCH_USER_PASSWORD"]

    def customer(username: str) -> dict[str, str]:
        _, account = services.customer_create(actor=actor, username=username, password=password,
                                               credit_limit=CREDIT_LIMIT, currency=CURRENCY)
        return {"username": username, "account": str(account.pk)}

    spread = [customer(f"bench-spread-{i:04d}") for i in range(payload["spread_accounts"])]
    hot = {v: customer(f"bench-hot-{v}") for v in payload["variants"]}
    profile = customer("bench-profile")

    owner = User.objects.create_user(username="bench-pgbench", password=None)
    n = payload["pgbench_accounts"]
    accounts = [CreditAccount(id=uuid.UUID(f"00000000-0000-0000-0000-{i:012d}"), owner=owner,
                              currency=CURRENCY, credit_limit=PGBENCH_LIMIT)
                for i in range(1, n + 1)]
    CreditAccount.objects.bulk_create(accounts)
    LedgerAccount.objects.bulk_create([
        LedgerAccount(id=RECV_BASE + i, code=f"receivable:{a.pk}", kind=LedgerAccount.Kind.ASSET,
                      currency=CURRENCY, credit_account=a)
        for i, a in enumerate(accounts, start=1)])
    settle, _ = LedgerAccount.objects.get_or_create(
        code=f"merchant_settlement:{CURRENCY}",
        defaults={"kind": LedgerAccount.Kind.LIABILITY, "currency": CURRENCY})
    return {"spread": spread, "hot": hot, "profile": profile, "settle_id": settle.pk}


def _classify(sql: str) -> str:
    s = " ".join(sql.split())
    head = s.split(" ", 1)[0].upper()
    if head in ("BEGIN", "COMMIT"):
        return head
    if head in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return head + " (savepoint)"
    if "pg_try_advisory_xact_lock" in s:
        return "SELECT pg_try_advisory_xact_lock"
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', s)
    name = table.group(1) if table else "?"
    extra = " FOR UPDATE" if "FOR UPDATE" in s else ""
    if head == "SELECT" and ("COUNT(" in s.upper() or "AVG(" in s.upper()):
        extra += " (aggregate)"
    return f"{head} {name}{extra}"


def task_profile(payload: dict[str, Any]) -> dict[str, Any]:
    """SQL of one charge, wall time and cProfile of N charges (test client, in-process)."""
    _django()
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    user = User.objects.get(username=payload["username"])
    token = str(AccessToken.for_user(user))
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/v1/accounts/{payload['account']}/charges/"
    counter = iter(range(10**9))

    def charge() -> int:
        r = client.post(url, data=CHARGE_BODY, content_type="application/json",
                        headers={"Idempotency-Key": f"profile-{next(counter)}-{uuid.uuid4().hex}"})
        if r.status_code != 201:
            raise RuntimeError(f"profile charge: {r.status_code} {r.content[:300]!r}")
        return r.status_code

    for _ in range(20):
        charge()
    with CaptureQueriesContext(connection) as one:
        charge()
    queries = [{"sql": " ".join(q["sql"].split())[:300], "ms": round(float(q["time"]) * 1000, 3),
                "kind": _classify(q["sql"])} for q in one.captured_queries]
    n = payload["charges"]
    # Precise timings (CaptureQueriesContext rounds to 1 ms): every statement, every COMMIT, and
    # how long the account row lock is held (FOR UPDATE returned -> its COMMIT returned).
    acc: dict[str, Any] = {"queries": 0, "sql_s": 0.0, "commits": 0, "commit_s": 0.0,
                           "lock_hold_s": [], "locked_at": None}

    def timed_execute(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            now = time.perf_counter()
            acc["queries"] += 1
            acc["sql_s"] += now - t
            if "FOR UPDATE" in sql and "accounts_creditaccount" in sql:
                acc["locked_at"] = now

    original_commit = connection._commit

    def timed_commit() -> Any:
        t = time.perf_counter()
        try:
            return original_commit()
        finally:
            now = time.perf_counter()
            acc["commits"] += 1
            acc["commit_s"] += now - t
            if acc["locked_at"] is not None:
                acc["lock_hold_s"].append(now - acc["locked_at"])
                acc["locked_at"] = None

    budget = float(payload.get("max_seconds", 20))
    connection._commit = timed_commit
    with connection.execute_wrapper(timed_execute):
        t0 = time.perf_counter()
        done = 0
        while done < n and time.perf_counter() - t0 < budget:
            charge()
            done += 1
        wall = time.perf_counter() - t0
    connection._commit = original_commit
    n_timed, n = done, done
    holds = sorted(acc["lock_hold_s"])

    # This process's CPU per request, no wrappers, no profiler: a charge, and the floor request
    # (GET of the same account) for comparison.
    def cpu_ms_per(request: Callable[[], Any], count: int) -> float:
        for _ in range(10):
            request()
        t = time.process_time()
        for _ in range(count):
            request()
        return round(1000 * (time.process_time() - t) / count, 3)

    def floor() -> int:
        r = client.get(f"/api/v1/accounts/{payload['account']}/")
        if r.status_code != 200:
            raise RuntimeError(f"profile floor: {r.status_code} {r.content[:300]!r}")
        return r.status_code

    cpu_charge = cpu_ms_per(charge, max(20, n_timed // 2))
    cpu_floor = cpu_ms_per(floor, max(20, n_timed // 2))

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    n = 0
    prof.enable()
    while n < payload["charges"] and time.perf_counter() - t0 < budget:
        charge()
        n += 1
    prof.disable()
    stats = pstats.Stats(prof)
    raw = stats.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values())

    def short(key: tuple[str, int, str]) -> str:
        path, line, func = key
        path = re.sub(r".*/site-packages/", "", path)
        path = path.replace(str(ROOT) + "/", "")
        return f"{path}:{line}({func})"

    top_tottime = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:25]
    packages: collections.Counter[str] = collections.Counter()
    for (path, _, func), v in raw.items():
        if path == "~":
            name = "builtins/C (" + ("socket" if "socket" in func else "other") + ")"
        elif "/site-packages/" in path:
            rel = path.split("/site-packages/", 1)[1]
            name = rel.split("/", 1)[0]
            if name == "django":
                name = "django." + (rel.split("/")[1] if rel.count("/") >= 2 else "")
                if name == "django.db":
                    name = "django.db (ORM, SQL compiler)"
        elif path.startswith(str(ROOT)):
            name = "project: " + path[len(str(ROOT)) + 1:].split("/", 1)[0]
        else:
            name = "python stdlib"
        packages[name] += v[2]
    by_package = {k: round(1000 * v / n, 3) for k, v in packages.most_common(16)}
    buckets = {
        "request (test client)": ("django/test/client.py", "request"),
        "JWT authentication": ("rest_framework_simplejwt/authentication.py", "authenticate"),
        "idempotency run_idempotent": ("ledger/idempotency.py", "run_idempotent"),
        "charge_create (service)": ("ledger/services.py", "charge_create"),
        "preauth rules (fraud.preauth.decide)": ("fraud/preauth.py", "decide"),
        "post-commit scoring (fraud.services.entry_score)": ("fraud/services.py", "entry_score"),
        "audit.record (AuditEvent rows)": ("compliance/audit.py", "record"),
        "auditlog log_create": ("auditlog/receivers.py", "log_create"),
        "auditlog log_update": ("auditlog/receivers.py", "log_update"),
        "Django SQL execute (incl. DB round trip)": ("django/db/backends/utils.py", "_execute"),
        "COMMIT (incl. deferred triggers)": ("django/db/backends/base/base.py", "_commit"),
        "idempotency cache get (Redis)": ("ledger/idempotency.py", "_cache_get"),
        "idempotency cache set (Redis)": ("ledger/idempotency.py", "_cache_set"),
        "DRF input validation": ("rest_framework/serializers.py", "is_valid"),
        "JSON rendering": ("rest_framework/renderers.py", "render"),
        "Celery eager apply (scoring task dispatch)": ("celery/app/task.py", "apply"),
        "DRF throttles (cache get+set of the request history)": (
            "rest_framework/throttling.py", "allow_request"),
    }
    cum: dict[str, float] = {}
    for label, (path_part, func) in buckets.items():
        cum[label] = round(1000 * sum(v[3] for k, v in raw.items()
                                      if k[2] == func and k[0].endswith(path_part)) / n, 3)
    return {
        "one_charge_queries": queries,
        "one_charge_query_count": len(queries),
        "one_charge_query_kinds": dict(collections.Counter(q["kind"] for q in queries)),
        "charges": n_timed, "cprofile_charges": n,
        "wall_ms_per_charge": round(1000 * wall / n_timed, 3),
        "sql_ms_per_charge": round(1000 * acc["sql_s"] / n_timed, 3),
        "statements_per_charge_excl_begin_commit": round(acc["queries"] / n_timed, 2),
        "commits_per_charge": round(acc["commits"] / n_timed, 2),
        "commit_ms_per_charge": round(1000 * acc["commit_s"] / n_timed, 3),
        "process_cpu_ms_per_charge": cpu_charge,
        "process_cpu_ms_per_floor_request": cpu_floor,
        "python_ms_per_charge": round(
            1000 * (wall - acc["sql_s"] - acc["commit_s"]) / n_timed, 3),
        "row_lock_hold_ms_p50": _ms(percentile(holds, 50)),
        "row_lock_hold_ms_p99": _ms(percentile(holds, 99)),
        "cprofile_tottime_ms_per_charge_by_package": by_package,
        "cprofile_total_ms_per_charge": round(1000 * total_tt / n, 3),
        "cprofile_cumulative_ms_per_charge": cum,
        "cprofile_top_tottime": [
            {"function": short(k), "calls_per_charge": round(v[1] / n, 2),
             "tottime_ms_per_charge": round(1000 * v[2] / n, 4),
             "cumtime_ms_per_charge": round(1000 * v[3] / n, 4)} for k, v in top_tottime],
    }


def django_task_main(task: str) -> None:
    payload = json.loads(sys.stdin.read() or "{}")
    result = {"setup": task_setup, "profile": task_profile}[task](payload)
    print("BENCH-RESULT " + json.dumps(result, default=str), flush=True)


# --- orchestration --------------------------------------------------------------------------------


def fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, int | float) else str(v)


def print_table(rows: list[dict[str, Any]]) -> str:
    header = ["scenario", "scoring", "charges/s", "p50 ms", "p99 ms", "errors by code",
              "ceiling tx/s", "ratio", "target", "ok", "ratio per CPU"]
    lines = []
    table = [header]
    for r in rows:
        errs = ", ".join(f"{k}={v}" for k, v in sorted(r["errors"].items())) or "none"
        table.append([r["scenario"], r["scoring"], fmt(r["charges_per_s"]), fmt(r["p50_ms"]),
                      fmt(r["p99_ms"]), errs, fmt(r["ceiling_tx_per_s"]),
                      fmt(r["ratio"], ".3f"),
                      f">= {r['target']:.2f}" if r.get("target") is not None else "-",
                      {True: "yes", False: "NO", None: "-"}[r.get("meets_target")],
                      fmt(r.get("ratio_per_cpu"), ".3f")])
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20, help="measured seconds per scenario")
    ap.add_argument("--warmup", type=float, default=3, help="warm-up seconds per scenario")
    ap.add_argument("--pgbench-duration", type=float, default=15)
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (HTTP and pgbench)")
    ap.add_argument("--accounts", type=int, default=64, help="accounts in the spread scenario")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    ap.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    ap.add_argument("--no-queued", action="store_true",
                    help="skip the extra rows with fraud scoring queued instead of inline")
    ap.add_argument("--no-profile", action="store_true", help="skip the in-process SQL/cProfile")
    ap.add_argument("--profile-charges", type=int, default=200)
    ap.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    ap.add_argument("--production-fraud-rules", action="store_true",
                    help="keep the velocity thresholds (expect card_declined after 10 charges "
                         "per account in 10 minutes)")
    ap.add_argument("--django-task", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.django_task:
        django_task_main(args.django_task)
        return 0

    started = time.time()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    load_before = uptime()
    log(f"load before: {load_before}")
    if not PYTHON.exists() or not GUNICORN.exists():
        raise SystemExit("run `make install` first (.venv with gunicorn)")
    pgbench = find_pgbench()
    check_services()

    variants = ["inline"] if args.no_queued else ["inline", "queued"]
    tmp = Path(tempfile.mkdtemp(prefix="creditplatform-bench-"))
    password = secrets.token_urlsafe(16)
    settings_module = ("creditplatform.settings" if args.production_fraud_rules
                       else "bench.bench_settings")
    base_env = bench_env(tmp / "var", password, settings_module)
    script = tmp / "charge.sql"
    script.write_text(PGBENCH_SCRIPT)
    config = {
        "clients": args.clients, "duration_s": args.duration, "warmup_s": args.warmup,
        "pgbench_duration_s": args.pgbench_duration, "spread_accounts": args.accounts,
        "gunicorn": {"worker_class": args.worker_class, "workers": args.workers,
                     "threads": args.threads if args.worker_class == "gthread" else 1},
        "amount": AMOUNT, "currency": CURRENCY, "merchant": MERCHANT, "card": None,
        "database": DB_NAME, "redis_db": REDIS_DB, "cpus": os.cpu_count(),
        "scoring": {"inline": "CELERY_TASK_ALWAYS_EAGER=true: fraud scoring runs in the request "
                              "after commit",
                    "queued": "CELERY_TASK_ALWAYS_EAGER=false, FRAUD_SCORING_NUDGE=false "
                              "(docker-compose.yml): the request writes the scoring outbox "
                              "row in its transaction; the relay (not run) publishes batches"},
        "password_hasher": "MD5 (logins only; the charge path never hashes)",
        "settings_module": "creditplatform.settings" if args.production_fraud_rules
        else "bench.bench_settings (FRAUD_RULES velocity thresholds raised)",
        "throttles": "on, rates 1000000/min (THROTTLE_USER/IP/LOGIN)",
    }
    results: dict[str, Any] = {"timestamp_utc": stamp, "config": config,
                               "load_before": load_before, "http": {}, "pgbench": {}}
    gunicorn: Gunicorn | None = None
    mon = None
    try:
        log(f"database {DB_NAME}: drop/create; Redis db {REDIS_DB}: flush")
        reset_database()
        redis_flush()
        t0 = time.monotonic()
        run_manage(base_env, "migrate", "--noinput", "-v0")
        log(f"migrated in {time.monotonic() - t0:.1f}s; creating customers")
        fx = run_django_task(base_env, "setup", {
            "spread_accounts": args.accounts, "pgbench_accounts": args.accounts,
            "variants": variants})
        mon = pg_connect(DB_NAME)
        port = free_port()
        tokens: dict[str, str] = {}
        redis_pids = pids_by_comm("redis-server")
        for variant in variants:
            env = with_scoring(base_env, variant)
            gunicorn = Gunicorn(env, port, args, tmp / f"gunicorn-{variant}.log")
            gunicorn.wait_ready()
            log(f"gunicorn up on 127.0.0.1:{port} ({args.worker_class}, {args.workers} workers"
                f"{', ' + str(args.threads) + ' threads' if args.worker_class == 'gthread' else ''}"
                f"; scoring {variant})")
            if not tokens:
                names = [c["username"] for c in fx["spread"]]
                names += [c["username"] for c in fx["hot"].values()]
                tokens = login_all(port, names, password)
                log(f"{len(tokens)} cardholders logged in")
            queued_before = redis_llen("celery") if variant == "queued" else 0
            scenarios = ["spread", "hot"] + (["floor"] if variant == variants[-1] else [])
            for scenario in scenarios:
                if scenario in ("spread", "floor"):
                    targets = [(c["account"], tokens[c["username"]]) for c in fx["spread"]]
                else:
                    hot = fx["hot"][variant]
                    targets = [(hot["account"], tokens[hot["username"]])]
                log(f"HTTP {scenario} (scoring {variant}): {args.warmup:g}s warm-up + "
                    f"{args.duration:g}s, {args.clients} clients, {len(targets)} account(s)")
                res = run_http_load(
                    port=port, targets=targets, clients=args.clients, warmup=args.warmup,
                    duration=args.duration, label=f"{scenario}-{variant}",
                    cpu_groups={"gunicorn": gunicorn.pids, "redis": lambda: redis_pids},
                    mon=mon, floor=scenario == "floor")
                with contextlib.suppress(Exception):
                    res["throttle_bucket_bytes_after"] = redis_throttle_keys()
                results["http"][f"{scenario}/{variant}"] = res
                log(f"  {res['charges_per_s']:.1f} charges/s, p50 {fmt(res['p50_ms'])} ms, "
                    f"p99 {fmt(res['p99_ms'])} ms, errors {res['errors'] or 'none'}")
                if scenario not in results["pgbench"] and scenario != "floor":
                    n = args.accounts if scenario == "spread" else 1
                    log(f"pgbench {scenario}: {args.pgbench_duration:g}s, {args.clients} "
                        f"clients, {n} account(s)")
                    pg = run_pgbench(pgbench=pgbench, script=script, log_dir=tmp,
                                     clients=args.clients, duration=args.pgbench_duration,
                                     naccounts=n, settle_id=fx["settle_id"], label=scenario,
                                     mon=mon)
                    results["pgbench"][scenario] = pg
                    log(f"  {fmt(pg['tx_per_s'])} tx/s, p50 {fmt(pg['p50_ms'])} ms, "
                        f"p99 {fmt(pg['p99_ms'])} ms, failed {fmt(pg['failed'], '.0f')}")
            if variant == "queued":
                results["scoring_tasks_queued"] = redis_llen("celery") - queued_before
            errors_log = gunicorn.tail()
            gunicorn.stop()
            gunicorn = None
            if errors_log.strip():
                results.setdefault("gunicorn_log_tail", {})[variant] = errors_log[-2000:]
        if not args.no_profile:
            # Profiled as production runs it (queued) unless only the inline rows were asked for.
            profile_scoring = variants[-1]
            log(f"in-process SQL count and cProfile of {args.profile_charges} charges "
                f"(scoring {profile_scoring})")
            results["profile_scoring"] = profile_scoring
            results["profile"] = run_django_task(
                with_scoring(base_env, profile_scoring), "profile",
                {"username": fx["profile"]["username"], "account": fx["profile"]["account"],
                 "charges": args.profile_charges, "max_seconds": 15})
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        if mon is not None:
            mon.close()
        if not args.keep_db:
            with contextlib.suppress(Exception):
                drop_database()
        with contextlib.suppress(Exception):
            redis_flush()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for key, res in results["http"].items():
        scenario, variant = key.split("/")
        # The floor (no money moved) is read against the spread ceiling; it has no target.
        ceiling_of = "spread" if scenario == "floor" else scenario
        ceiling = results["pgbench"].get(ceiling_of, {}).get("tx_per_s")
        ratio = res["charges_per_s"] / ceiling if ceiling else None
        target = TARGETS.get(scenario)
        allowed = {"insufficient_credit"}
        clean = not (set(res["errors"]) - allowed)
        cpu_ratio = None
        pg = results["pgbench"].get(ceiling_of, {})
        with contextlib.suppress(KeyError, TypeError, ZeroDivisionError):
            per_core_http = res["charges_per_s"] / res["cpu_seconds"]["bench_cores"]
            per_core_pg = pg["tx_per_s"] / pg["cpu_seconds"]["bench_cores"]
            cpu_ratio = round(per_core_http / per_core_pg, 4)
            res["charges_per_bench_core_second"] = round(per_core_http, 2)
            pg["tx_per_bench_core_second"] = round(per_core_pg, 2)
        rows.append({
            "scenario": scenario, "scoring": variant,
            "ratio_per_cpu": cpu_ratio,
            "charges_per_s": round(res["charges_per_s"], 1),
            "p50_ms": res["p50_ms"], "p99_ms": res["p99_ms"], "errors": res["errors"],
            "ceiling_tx_per_s": ceiling, "ratio": None if ratio is None else round(ratio, 4),
            "target": target,
            "meets_target": (None if ratio is None or target is None
                             else bool(ratio >= target and clean)),
        })
    results["table"] = rows
    results["load_after"] = uptime()
    results["elapsed_s"] = round(time.time() - started, 1)

    print()
    print(f"creditplatform ledger benchmark {stamp}: {args.clients} clients, "
          f"{args.duration:g}s measured per scenario (+{args.warmup:g}s warm-up), gunicorn "
          f"{args.worker_class} {args.workers}x{config['gunicorn']['threads']}, "
          f"pgbench {args.pgbench_duration:g}s")
    print(f"load before: {load_before}")
    print(f"load after:  {results['load_after']}")
    print()
    results["table_text"] = print_table(rows)
    print()
    print("CPU ms per charge (HTTP) / per transaction (pgbench), measured window:")
    for key, res in results["http"].items():
        c = res.get("cpu_ms_per_charge", {})
        cs = res.get("cpu_seconds", {})
        print(f"  {key:16} gunicorn {fmt(c.get('gunicorn'), '.2f')}  postgres "
              f"{fmt(c.get('postgres_backends'), '.2f')}  redis {fmt(c.get('redis'), '.2f')}  "
              f"client {fmt(c.get('client'), '.2f')}   machine busy "
              f"{fmt(cs.get('machine_busy_cores'), '.2f')} cores, of which this bench "
              f"{fmt(cs.get('bench_cores'), '.2f')}, others {fmt(cs.get('other_cores'), '.2f')}"
              f"; {fmt(res.get('charges_per_bench_core_second'))} charges per core-second")
    for key, pg in results["pgbench"].items():
        c = pg.get("cpu_ms_per_tx", {})
        cs = pg.get("cpu_seconds", {})
        print(f"  pgbench/{key:8} postgres {fmt(c.get('postgres_backends'), '.2f')}  pgbench "
              f"{fmt(c.get('pgbench'), '.2f')}   machine busy "
              f"{fmt(cs.get('machine_busy_cores'), '.2f')} cores, of which this bench "
              f"{fmt(cs.get('bench_cores'), '.2f')}, others {fmt(cs.get('other_cores'), '.2f')}"
              f"; {fmt(pg.get('tx_per_bench_core_second'))} tx per core-second")
    hot = results["http"].get("hot/inline")
    if hot and hot["charges_per_second_timeline"]:
        tl = hot["charges_per_second_timeline"]
        k = max(1, len(tl) // 4)
        print(f"  hot/inline charges/s, first {k}s vs last {k}s of the window: "
              f"{sum(tl[:k]) / k:.1f} -> {sum(tl[-k:]) / k:.1f}")
    prof = results.get("profile")
    if prof:
        print()
        print(f"In-process, one client, scoring {results.get('profile_scoring', 'inline')} "
              f"(Django test client, no HTTP server): "
              f"{prof['one_charge_query_count']} statements per charge incl. BEGIN/COMMIT:")
        for kind, count in sorted(prof["one_charge_query_kinds"].items(),
                                  key=lambda kv: -kv[1]):
            print(f"  {count:2d} x {kind}")
        print(f"  per charge over {prof['charges']} charges: wall {prof['wall_ms_per_charge']} ms"
              f" = SQL {prof['sql_ms_per_charge']} ms + COMMIT x{prof['commits_per_charge']} "
              f"{prof['commit_ms_per_charge']} ms + Python {prof['python_ms_per_charge']} ms; "
              f"account row lock held p50 {prof['row_lock_hold_ms_p50']} ms, "
              f"p99 {prof['row_lock_hold_ms_p99']} ms")
        if "process_cpu_ms_per_charge" in prof:
            print(f"  this process's CPU: {prof['process_cpu_ms_per_charge']} ms per charge, "
                  f"{prof['process_cpu_ms_per_floor_request']} ms per floor GET")
        print("cProfile, cumulative ms per charge (profiler overhead inflates Python time):")
        for label, ms in prof["cprofile_cumulative_ms_per_charge"].items():
            print(f"  {ms:8.2f}  {label}")
        print("cProfile, own (tottime) ms per charge by package:")
        for label, ms in prof["cprofile_tottime_ms_per_charge_by_package"].items():
            print(f"  {ms:8.2f}  {label}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"ledger-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(f"results: {out.relative_to(ROOT)}   (elapsed {results['elapsed_s']}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
