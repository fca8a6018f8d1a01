#!/usr/bin/env python
"""Scale: charge p99 and a statement page on a database of 1,000,000 accounts and 10,000,000
postings, against the same measurement on an empty database (issue 8, item 5; target: within
1.3 times).

Run from the repository root::

    .venv/bin/python bench/scale.py                                   # the full run
    .venv/bin/python bench/scale.py --accounts 2000 --postings 20000 --samples 60   # a dry run

What it does (127.0.0.1 only; cleans up after itself, also on error or Ctrl-C):

1. Creates the database ``creditplatform_scale`` (dropped at the end; ``--keep-db`` keeps it),
   flushes Redis **db 12 only**, migrates, and in a Django subprocess creates through the
   services the measured cardholders and one *template* cardholder with one charge (the rows
   the bulk load copies). Measured: ``--measured`` *readers*, each with 60 charges made here
   (a full first page of 50 and the same 30-day period in both measurements), and two sets
   of ``--measured`` fresh *chargers*, one per measurement, so that neither measurement
   charges accounts made busier by the one before (the first version of this bench read and
   charged the same accounts, whose pages and scoring histories had doubled by the second
   measurement: that, not the database's size, was most of its 1.3-1.7 read ratios).
2. Starts gunicorn (``gthread`` 2x4, production settings with fresh secrets as in
   ``bench/ledger.py``, ``bench.bench_settings``), Celery eager: post-commit fraud scoring runs
   in the request, so history-dependent scoring is part of what is measured.
3. **Empty database**: after ``--warmup`` discarded requests per operation, ``--samples``
   charges (chargers) from ``--clients`` threads, then ``--samples`` statement pages (readers)
   (``GET /accounts/<id>/statement/`` for the last 30 days, first page, and
   ``GET /accounts/<id>/transactions/``), p50/p99 of each.
4. **Bulk load** in SQL (``generate_series``; no per-row round trips): ``--accounts`` users and
   credit accounts and their receivable ledger accounts, cloned from the template rows with
   ``jsonb_populate_record`` (so columns added later are filled as in the template), then
   ``--postings`` / 2 charge entries of two postings each (receivable +amount, merchant
   settlement -amount) spread over the bulk accounts and the past year, in batches of
   ``--batch`` entries per transaction, and each account's ``posted`` set to the sum of its
   receivable postings. The ledger's triggers are off during the load
   (``session_replication_role = replica``, as the test runner's flush does; ``--with-triggers``
   loads through them, much slower); the invariants are then verified set-based: every entry's
   postings sum to zero, every account's ``posted`` equals its receivable postings, and no
   account is over its limit. ``VACUUM (ANALYZE)`` of the loaded tables and a ``CHECKPOINT``
   follow (the steady state of a large database, not the minutes after a bulk load).
5. **Full database**: the same measurement as 3, on the same accounts. Both measurements
   start after :func:`settle` (no autovacuum worker on the database, 1-minute load average
   under the core count; the wait is recorded in the JSON ``quiet``).
6. Prints both, the ratios (target <= 1.3) and writes ``bench/results/scale-<UTC>.json``; exit 1
   when a ratio is over the target or the invariants fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
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

DB_NAME = "creditplatform_scale"
REDIS_DB = 12
TARGET_RATIO = 1.3
TEMPLATE_USER = "scale-template"
#: Who is measured: readers (statement and transactions pages) have READER_ENTRIES charges made
#: at set-up, so both measurements read the same full first page (50) and the same period;
#: charges go to fresh accounts, one set per measurement, so neither measures an account made
#: busier by the measurement before it (inline fraud scoring reads the account's history).
MEASURED_SETS = ("reader", "charger-empty", "charger-full")
READER_ENTRIES = 60


# --- Django side (a subprocess with the bench environment) ----------------------------------------


def task_setup(payload: dict[str, Any]) -> dict[str, Any]:
    L._django()
    from accounts import services
    from compliance.audit import SystemActor
    from creditplatform import crypto
    from ledger import services as ledger_services

    crypto.keyring()
    actor = SystemActor("bench-scale")
    password = os.environ["BENCH_USER_PASSWORD"]
    sets: dict[str, list[dict[str, str]]] = {}
    for role in MEASURED_SETS:
        sets[role] = []
        for i in range(payload["measured"]):
            username = f"scale-{role}-{i:03d}"
            user, account = services.customer_create(actor=actor, username=username,
                                                     password=password, credit_limit=10**12,
                                                     currency="EUR")
            sets[role].append({"username": username, "account": str(account.pk)})
            if role == "reader":   # the same history, read in both measurements
                for k in range(READER_ENTRIES):
                    ledger_services.charge_create(actor=user, account_id=account.pk,
                                                  amount=100 + k, currency="EUR",
                                                  merchant=f"scale-r{k % 10}")
    user, account = services.customer_create(actor=actor, username=TEMPLATE_USER, password=None,
                                             credit_limit=10**12, currency="EUR")
    ledger_services.charge_create(actor=user, account_id=account.pk, amount=100,
                                  currency="EUR", merchant="scale-template")
    return {**sets, "template_account": str(account.pk)}


def run_task(env: dict[str, str], task: str, payload: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([str(L.PYTHON), str(Path(__file__).resolve()), "--django-task", task],
                          cwd=ROOT, env=env, input=json.dumps(payload), capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"django task {task} failed:\n{proc.stderr[-4000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT "))
    return json.loads(line[len("BENCH-RESULT "):])


# --- the bulk load -------------------------------------------------------------------------------


def clone_sql(table: str, where: str, overrides: str, series: str) -> str:
    """INSERT copies of the template row of ``table`` with ``overrides`` (a jsonb_build_object
    argument list using ``g``, the series value). The record is built in a ``LATERAL`` call:
    ``SELECT (f(...)).*`` would call ``f`` once per column (11 times slower here)."""
    return (f"INSERT INTO {table} SELECT r.* FROM {table} t, {series} AS g, "
            f"LATERAL jsonb_populate_record(NULL::{table}, "
            f"to_jsonb(t) || jsonb_build_object({overrides})) AS r WHERE {where}")


LOADED_TABLES = ("accounts_user", "accounts_creditaccount", "ledger_ledgeraccount",
                 "ledger_journalentry", "ledger_posting")


def settle() -> dict[str, Any]:
    """Wait (at most 10 minutes) until no autovacuum worker runs on the bench database and the
    machine's 1-minute load average is under the number of cores, so both measurements start
    from the same quiet state. Returns what was waited for (recorded in the JSON)."""
    t0 = time.monotonic()
    with L.pg_connect(DB_NAME) as conn:
        while time.monotonic() - t0 < 600:
            vacuums = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                "AND datname = current_database()").fetchone()[0]
            load1 = os.getloadavg()[0]
            if not vacuums and load1 < (os.cpu_count() or 1):
                break
            time.sleep(5)
    return {"waited_s": round(time.monotonic() - t0, 1), "autovacuum_workers": vacuums,
            "load1": round(load1, 2)}


def bulk_load(args: argparse.Namespace, template_account: str) -> dict[str, Any]:
    n, entries = args.accounts, args.postings // 2
    timings: dict[str, float] = {}
    with L.pg_connect(DB_NAME) as conn:
        def step(name: str, *sql: str) -> None:
            t0 = time.monotonic()
            with conn.transaction():
                if not args.with_triggers:
                    conn.execute("SET LOCAL session_replication_role = replica")
                for s in sql:
                    conn.execute(s)
            timings[name] = round(time.monotonic() - t0, 1)
            L.log(f"  {name}: {timings[name]} s")

        tpl_user = conn.execute("SELECT owner_id FROM accounts_creditaccount WHERE id = %s",
                                [template_account]).fetchone()[0]
        tpl_entry = conn.execute("SELECT id FROM ledger_journalentry WHERE account_id = %s",
                                 [template_account]).fetchone()[0]
        settle = conn.execute("SELECT id FROM ledger_ledgeraccount "
                              "WHERE code = 'merchant_settlement:EUR'").fetchone()[0]
        uid = "md5('scale-u' || g)::uuid"
        aid = "md5('scale-a' || g)::uuid"
        for lo in range(1, n + 1, args.batch):
            hi = min(n, lo + args.batch - 1)
            series = f"generate_series({lo}, {hi})"
            step(f"accounts {lo}-{hi}",
                 clone_sql("accounts_user", f"t.id = '{tpl_user}'",
                           f"'id', {uid}, 'username', 'scale-u' || g, 'email', ''", series),
                 clone_sql("accounts_creditaccount", f"t.id = '{template_account}'",
                           f"'id', {aid}, 'owner_id', {uid}, 'posted', 0, 'pending', 0, "
                           "'credit_limit', 1000000000000", series),
                 clone_sql("ledger_ledgeraccount", f"t.credit_account_id = '{template_account}'",
                           "'id', nextval(pg_get_serial_sequence('ledger_ledgeraccount', 'id')),"
                           f" 'code', 'receivable:' || {aid}, 'credit_account_id', {aid}",
                           series))
        # entries: entry g on bulk account (g mod n) + 1, amount 1..999 minor units, within a year
        acct_of = f"md5('scale-a' || ((g % {n}) + 1))::uuid"
        for lo in range(1, entries + 1, args.batch):
            hi = min(entries, lo + args.batch - 1)
            series = f"generate_series({lo}, {hi})"
            when = "(now() - make_interval(secs => (g::bigint * 7919 % 31536000)::int))"
            step(f"entries {lo}-{hi}",
                 clone_sql("ledger_journalentry", f"t.id = '{tpl_entry}'",
                           f"'id', md5('scale-e' || g)::uuid, 'account_id', {acct_of}, "
                           f"'amount', (g % 999) + 1, 'created_at', {when}, "
                           f"'occurred_at', {when}, 'merchant', 'scale-' || (g % 5000)",
                           series),
                 "INSERT INTO ledger_posting (entry_id, ledger_account_id, amount, currency) "
                 "SELECT e.id, la.id, e.amount, 'EUR' FROM ledger_journalentry e "
                 "JOIN ledger_ledgeraccount la ON la.credit_account_id = e.account_id "
                 f"JOIN {series} AS g ON e.id = md5('scale-e' || g)::uuid",
                 "INSERT INTO ledger_posting (entry_id, ledger_account_id, amount, currency) "
                 f"SELECT md5('scale-e' || g)::uuid, {settle}, -((g % 999) + 1), 'EUR' "
                 f"FROM {series} AS g")
        step("balances",
             "UPDATE accounts_creditaccount a SET posted = s.total FROM ("
             "  SELECT la.credit_account_id AS id, sum(p.amount) AS total FROM ledger_posting p"
             "  JOIN ledger_ledgeraccount la ON la.id = p.ledger_account_id"
             "  WHERE la.code LIKE 'receivable:%%' AND la.credit_account_id IN ("
             "    SELECT id FROM accounts_creditaccount a2 WHERE a2.owner_id IN ("
             "      SELECT id FROM accounts_user WHERE username LIKE 'scale-u%%'))"
             "  GROUP BY la.credit_account_id) s WHERE a.id = s.id")
        # the state a database of this size is in in production: vacuumed (visibility map set,
        # so index-only scans and no hint-bit writes on first read), analysed, checkpointed.
        # Right after a bulk load, autovacuum's insert-triggered VACUUM of the new rows
        # (autovacuum_vacuum_insert_threshold, PostgreSQL 13+) and the checkpointer would
        # otherwise run during the measurement and be measured as "scale".
        t0 = time.monotonic()
        for table in LOADED_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")  # noqa: S608 - fixed table names
        conn.execute("ANALYZE")
        conn.execute("CHECKPOINT")
        timings["vacuum_analyze_checkpoint"] = round(time.monotonic() - t0, 1)
        checks = {
            "unbalanced_entries": conn.execute(
                "SELECT count(*) FROM (SELECT entry_id FROM ledger_posting GROUP BY entry_id "
                "HAVING sum(amount) <> 0 OR count(*) < 2) x").fetchone()[0],
            "entries_without_postings": conn.execute(
                "SELECT count(*) FROM ledger_journalentry e WHERE NOT EXISTS ("
                "SELECT 1 FROM ledger_posting p WHERE p.entry_id = e.id)").fetchone()[0],
            "posted_mismatches": conn.execute(
                "SELECT count(*) FROM accounts_creditaccount a LEFT JOIN ("
                "  SELECT la.credit_account_id AS id, sum(p.amount) AS total "
                "  FROM ledger_posting p JOIN ledger_ledgeraccount la "
                "  ON la.id = p.ledger_account_id WHERE la.credit_account_id IS NOT NULL "
                "  GROUP BY la.credit_account_id) s ON s.id = a.id "
                "WHERE a.posted <> coalesce(s.total, 0)").fetchone()[0],
            "over_limit": conn.execute(
                "SELECT count(*) FROM accounts_creditaccount "
                "WHERE posted + pending > credit_limit").fetchone()[0],
        }
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                  for t in ("accounts_creditaccount", "ledger_journalentry", "ledger_posting")}
    return {"timings_s": timings, "invariants": checks, "rows": counts,
            "ok": not any(checks.values())}


# --- measurement ---------------------------------------------------------------------------------


def measure(port: int, chargers: list[dict[str, str]], readers: list[dict[str, str]],
            tokens: dict[str, str], samples: int, clients: int,
            rng: random.Random) -> dict[str, Any]:
    import http.client

    lat: dict[str, list[float]] = {"charge": [], "statement": [], "transactions": []}
    errors: dict[str, int] = {}
    lock = threading.Lock()
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    start = end - dt.timedelta(days=30)
    period = (f"?start={start.strftime('%Y-%m-%dT%H:%M:%SZ')}"
              f"&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}")

    def worker(i: int, op: str, count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local = random.Random(rng.random())
        measured = chargers if op == "charge" else readers
        for _ in range(count):
            who = measured[local.randrange(len(measured))]
            headers = {"Authorization": f"Bearer {tokens[who['username']]}",
                       "Host": "127.0.0.1"}
            body = None
            if op == "charge":
                method, path = "POST", f"/api/v1/accounts/{who['account']}/charges/"
                body = json.dumps({"amount": local.randint(100, 5000), "currency": "EUR",
                                   "merchant": f"scale-{local.randint(1, 50)}"}).encode()
                headers.update({"Content-Type": "application/json",
                                "Idempotency-Key": f"scale-{uuid.uuid4().hex}"})
            elif op == "statement":
                method, path = "GET", f"/api/v1/accounts/{who['account']}/statement/{period}"
            else:
                method, path = "GET", f"/api/v1/accounts/{who['account']}/transactions/"
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            took = time.perf_counter() - t0
            with lock:
                lat[op].append(took)
                if resp.status >= 400:
                    key = f"{op} {resp.status} {L.problem_code(resp.status, data)}"
                    errors[key] = errors.get(key, 0) + 1
        conn.close()

    for op in ("charge", "statement", "transactions"):
        per = max(1, samples // clients)
        threads = [threading.Thread(target=worker, args=(i, op, per)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    out: dict[str, Any] = {"errors": errors}
    for op, values in lat.items():
        values.sort()
        out[op] = {"n": len(values), "p50_ms": L._ms(L.percentile(values, 50)),
                   "p99_ms": L._ms(L.percentile(values, 99))}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--postings", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=500_000, help="rows per load transaction")
    ap.add_argument("--samples", type=int, default=400, help="requests per operation measured")
    ap.add_argument("--warmup", type=int, default=60,
                    help="requests per operation before each measurement (discarded)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--measured", type=int, default=16, help="cardholders measured")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--with-triggers", action="store_true",
                    help="load through the ledger's triggers (slow)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--django-task", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.django_task:
        L.DB_NAME = DB_NAME
        result = {"setup": task_setup}[args.django_task](json.loads(sys.stdin.read() or "{}"))
        print("BENCH-RESULT " + json.dumps(result), flush=True)
        return 0
    args.worker_class = "gthread"
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    L.log(f"scale: seed {seed}; {args.accounts:,} accounts, {args.postings:,} postings; "
          f"{L.uptime()}")
    L.DB_NAME, L.REDIS_DB = DB_NAME, REDIS_DB
    L.check_services()
    L.reset_database()
    L.redis_flush()
    tmp = Path(tempfile.mkdtemp(prefix="scale-"))
    password = secrets.token_urlsafe(16)
    env = L.bench_env(tmp, password, "bench.bench_settings")
    gunicorn: Any = None
    try:
        L.run_manage(env, "migrate", "--noinput", "-v0")
        setup = run_task(env, "setup", {"measured": args.measured})
        port = L.free_port()
        gunicorn = L.Gunicorn(env, port, args, tmp / "gunicorn.log")
        gunicorn.wait_ready()
        users = [m["username"] for role in MEASURED_SETS for m in setup[role]]
        tokens = L.login_all(port, users, password)
        quiet = {"empty": settle()}
        L.log(f"warm-up (discarded), then measuring on the empty database ({quiet['empty']})")
        phase = {"chargers": setup["charger-empty"], "readers": setup["reader"],
                 "clients": args.clients, "rng": rng}
        measure(port, tokens=tokens, samples=args.warmup, **phase)
        empty = measure(port, tokens=tokens, samples=args.samples, **phase)
        L.log(f"bulk load: {args.accounts:,} accounts, {args.postings:,} postings")
        load = bulk_load(args, setup["template_account"])
        L.log(f"loaded {load['rows']}; invariants {load['invariants']}")
        # the load outlives the 5-minute access tokens: sign in again
        tokens = L.login_all(port, users, password)
        quiet["full"] = settle()
        L.log(f"warm-up (discarded), then measuring on the full database ({quiet['full']})")
        phase["chargers"] = setup["charger-full"]
        measure(port, tokens=tokens, samples=args.warmup, **phase)
        full = measure(port, tokens=tokens, samples=args.samples, **phase)
        ratios = {op: (round(full[op]["p99_ms"] / empty[op]["p99_ms"], 3)
                       if empty[op]["p99_ms"] else None)
                  for op in ("charge", "statement", "transactions")}
        ok = (load["ok"] and not empty["errors"] and not full["errors"]
              and all(r is not None and r <= TARGET_RATIO for r in ratios.values()))
        result = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seed": seed,
                  "config": {k: v for k, v in vars(args).items() if k != "django_task"},
                  "machine": L.uptime(), "empty": empty, "full": full, "load": load,
                  "p99_ratio": ratios, "target_ratio": TARGET_RATIO, "quiet": quiet, "ok": ok}
        L.RESULTS_DIR.mkdir(exist_ok=True)
        out = L.RESULTS_DIR / f"scale-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        out.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nscale: {load['rows']}")
        for op in ("charge", "statement", "transactions"):
            print(f"  {op:12} empty p50 {empty[op]['p50_ms']} p99 {empty[op]['p99_ms']} ms | "
                  f"full p50 {full[op]['p50_ms']} p99 {full[op]['p99_ms']} ms | "
                  f"p99 ratio {ratios[op]} (target <= {TARGET_RATIO})")
        print(f"  errors: empty {empty['errors'] or 'none'}, full {full['errors'] or 'none'}")
        print(f"  load {load['timings_s']}")
        print(f"  {'OK' if ok else 'FAILED'}; written {out.relative_to(ROOT)}")
        return 0 if ok else 1
    finally:
        L.teardown(tmp=tmp, keep_db=args.keep_db, gunicorn=gunicorn)


if __name__ == "__main__":
    raise SystemExit(main())
