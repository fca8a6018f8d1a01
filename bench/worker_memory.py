#!/usr/bin/env python
"""Celery worker memory under the soak's scoring load, per process (issue 8, item 5).

Run from the repository root (about ``--warmup`` + ``--duration`` + 1 minute; it cleans up
after itself, also on error or Ctrl-C)::

    .venv/bin/python bench/worker_memory.py                       # 60 s warm-up, 8 min measured
    .venv/bin/python bench/worker_memory.py --trace --trace-frames 0 # + allocator statistics
    .venv/bin/python bench/worker_memory.py --worker-env PYTHONMALLOC=malloc   # a configuration

Not part of the test suite. Touches only the database ``creditplatform_h_memory`` (dropped
and created at the start, dropped at the end unless ``--keep-db``) and Redis **db 6** (cache
and Celery broker of the run, flushed at start and end).

What it does:

1. Migrates the database and creates ``--accounts`` cardholders through
   ``accounts.services.customer_create`` (a Django subprocess, production settings with fresh
   secrets and ``bench.bench_settings``, as ``bench/soak.py`` does).
2. Starts the worker exactly as the soak does: ``celery -A creditplatform worker -B
   --concurrency 1`` with ``CELERY_TASK_ALWAYS_EAGER=false``, ``FRAUD_SCORING_NUDGE=false`` and
   ``OUTBOX_RELAY_SECONDS=1`` (the embedded beat's outbox relay publishes
   ``fraud.tasks.score_entries`` batches every second). ``--worker-env K=V`` adds variables to
   the worker's environment only (e.g. ``MALLOC_ARENA_MAX=2``) to test a configuration.
3. ``--feeders`` subprocesses (2) write the soak's scored traffic through the ledger services
   at ``--rate`` operations per second in all: 85 % ``charge_create`` at one of ``--merchants``
   (``soak-<n>``), 15 % ``hold_create`` at ``soak-hotel`` then ``hold_capture`` (70 %) or
   ``hold_void``; each charge and capture writes its scoring outbox row in its transaction, as
   the API does. (The soak's 8 clients made about 32 charges and 4 captures per second.) The
   rate reached is reported (``feed.ops_per_s``): on a busy machine it can fall short.
4. Every ``--sample-every`` seconds it reads ``/proc/<pid>/status`` of the worker's three
   processes: ``master`` (consumes, does not run tasks), ``pool`` (the prefork child that runs
   the tasks: the child that has LightGBM loaded) and ``beat`` (the embedded scheduler):
   ``VmRSS``, ``RssAnon``, ``VmHWM`` and CPU time; plus the broker queue length and the
   unscored charges.
5. With ``--trace`` the worker runs through this file's ``--celery-shim`` (the same Celery
   command, plus two signal handlers). After a task, every ``--trace-every`` seconds, the pool
   child appends to a JSON-lines file: its RSS, glibc's ``mallinfo2`` (C heap in use / free /
   mmapped), pymalloc's arenas and the bytes of live small objects in them
   (``sys._debugmallocstats``), RSS by mapping kind (``[heap]``, other anonymous, files) and
   the number of gc-tracked objects: live Python data vs allocator retention vs native memory.
   With ``--trace-frames N`` (default 1; 0 turns it off) it also runs ``tracemalloc`` and adds
   the 12 source lines whose allocations grew most since the first dump after warm-up
   (tracemalloc slows the worker several times: the load then outruns it).
6. Prints, per process, RSS from the first sample after warm-up to the mean of the last quarter
   (``bench/soak.py``'s ``growth``; the soak's limit is 10 % on the worker group's sum) and the
   pool child's CPU per score, and writes ``bench/results/worker-memory-<UTC timestamp>.json``.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "creditplatform_h_memory"
REDIS_DB = 6
CELERY = ROOT / ".venv" / "bin" / "celery"
PYTHON = ROOT / ".venv" / "bin" / "python"
LIMIT = 0.10


# --- /proc ---------------------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``RssAnon``, ``RssFile``, ``VmHWM`` (kB) and ``Threads`` of a process."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def maps_library(pid: int, name: str) -> bool:
    """Whether process ``pid`` has a shared library containing ``name`` mapped."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any(name in line for line in f)
    except OSError:
        return False


def start_ticks(pid: int) -> int:
    """Start time of a process (clock ticks after boot; ``/proc/<pid>/stat`` field 22)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def worker_roles(master: int, children: list[int]) -> dict[str, int]:
    """``{"master": pid, "pool": pid, "beat": pid}`` of a ``worker -B --concurrency 1``.

    The pool child is the one that has loaded LightGBM (it runs the scoring tasks; neither the
    master nor beat imports it); before the first scoring, the older child (the worker starts
    its Pool bootstep before its Beat bootstep)."""
    roles = {"master": master}
    kids = sorted(children, key=start_ticks)
    pool = next((pid for pid in kids if maps_library(pid, "lib_lightgbm")), None)
    if pool is None and kids:
        pool = kids[0]
    for pid in kids:
        roles["pool" if pid == pool else "beat"] = pid
    return roles


def pymalloc_stats() -> dict[str, int]:
    """pymalloc's arenas (kB reserved) and the bytes of live small objects in them, parsed
    from ``sys._debugmallocstats()`` (which writes to the C stderr)."""
    import re

    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    out = {}
    for key, pattern in (("pymalloc_arenas_kb", r"(\d+) arenas \* \d+ bytes/arena"),
                         ("pymalloc_live_kb", r"# bytes in allocated blocks\s+=\s+([\d,]+)")):
        m = re.search(pattern, text)
        if m:
            value = int(m.group(1).replace(",", ""))
            out[key] = value * 1024 if key == "pymalloc_arenas_kb" else value // 1024
    return out


def smaps_summary() -> dict[str, int]:
    """RSS (kB) of this process by mapping kind: ``[heap]`` (glibc's main arena), other
    anonymous mappings (pymalloc arenas, glibc thread arenas, mmapped blocks) and files."""
    out = {"smaps_heap_kb": 0, "smaps_anon_kb": 0, "smaps_file_kb": 0}
    kind = "smaps_anon_kb"
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                first = line.split(maxsplit=6)
                if "-" in first[0] and len(first) >= 5 and not first[0].endswith(":"):
                    name = first[5].strip() if len(first) > 5 else ""
                    kind = ("smaps_heap_kb" if name == "[heap]" else
                            "smaps_file_kb" if name.startswith("/") else "smaps_anon_kb")
                elif first[0] == "Rss:":
                    out[kind] += int(first[1])
    except OSError:
        pass
    return out


# --- the worker shim (``--trace``) ------------------------------------------------------------
def celery_shim(argv: list[str]) -> None:
    """Run ``celery <argv>`` with tracemalloc dumps in the pool child (``WORKER_MEMORY_TRACE``
    = the JSON-lines file, ``WORKER_MEMORY_TRACE_EVERY`` seconds between dumps,
    ``WORKER_MEMORY_TRACE_FROM`` seconds after start before the reference snapshot)."""
    import ctypes
    import gc
    import tracemalloc

    from celery import signals

    path = os.environ["WORKER_MEMORY_TRACE"]
    every = float(os.environ.get("WORKER_MEMORY_TRACE_EVERY", "30"))
    ref_after = float(os.environ.get("WORKER_MEMORY_TRACE_FROM", "60"))
    state: dict[str, Any] = {"last": 0.0, "ref": None, "t0": time.monotonic(), "tasks": 0}

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = Mallinfo2

    frames = int(os.environ.get("WORKER_MEMORY_TRACE_FRAMES", "1"))

    @signals.worker_process_init.connect(weak=False)
    def _start(**_: Any) -> None:
        if frames:
            tracemalloc.start(frames)
        state["t0"] = time.monotonic()

    @signals.task_postrun.connect(weak=False)
    def _dump(**_: Any) -> None:
        state["tasks"] += 1
        now = time.monotonic()
        if now - state["last"] < every:
            return
        state["last"] = now
        mi = libc.mallinfo2()
        row: dict[str, Any] = {
            "t": round(now - state["t0"], 1), "tasks": state["tasks"],
            "rss_kb": proc_status(os.getpid()).get("VmRSS"),
            "malloc_in_use_kb": mi.uordblks // 1024, "malloc_free_kb": mi.fordblks // 1024,
            "malloc_mmap_kb": mi.hblkhd // 1024, "malloc_heap_kb": mi.arena // 1024,
            **pymalloc_stats(), **smaps_summary(), "gc_objects": len(gc.get_objects())}
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            current, peak = tracemalloc.get_traced_memory()
            row.update(traced_kb=current // 1024, traced_peak_kb=peak // 1024)
            tracemalloc.reset_peak()
            if state["ref"] is None and now - state["t0"] >= ref_after:
                state["ref"] = snap
            if state["ref"] is not None:
                row["top_growth"] = [
                    {"where": str(s.traceback), "kb": s.size_diff // 1024,
                     "count": s.count_diff}
                    for s in snap.compare_to(state["ref"], "lineno")[:12]]
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")

    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *argv]
    celery_main()


# --- Django subprocess tasks ---------------------------------------------------------------------
def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bench_settings")
    import django

    django.setup()


def task_setup(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload["accounts"]`` cardholders through ``customer_create``; their account ids."""
    _django()
    from accounts import services
    from compliance.audit import SystemActor
    from creditplatform import crypto

    crypto.keyring()
    actor = SystemActor("bench-worker-memory")
    ids = []
    for i in range(payload["accounts"]):
        _, account = services.customer_create(
            actor=actor, username=f"memory-{i:04d}", password=None, credit_limit=10**12,
            currency="EUR")
        ids.append(str(account.pk))
    return {"accounts": ids}


def task_feed(payload: dict[str, Any]) -> dict[str, Any]:
    """Charges and holds through the ledger services at ``rate`` per second until ``until``
    (Unix time); the soak's scored mix (see the module docstring, step 3)."""
    _django()
    from compliance.audit import SystemActor
    from ledger import services

    actor = SystemActor("bench-worker-memory")
    rng = random.Random(payload["seed"])
    accounts, merchants = payload["accounts"], payload["merchants"]
    every = 1.0 / payload["rate"]
    counts = {"charge": 0, "capture": 0, "void": 0, "error": 0}
    errors: dict[str, int] = {}
    next_at = time.monotonic()
    while time.time() < payload["until"]:
        account = rng.choice(accounts)
        try:
            if rng.random() < 0.85:
                services.charge_create(actor=actor, account_id=account,
                                       amount=rng.randint(100, 5000), currency="EUR",
                                       merchant=f"soak-{rng.randint(1, merchants)}")
                counts["charge"] += 1
            else:
                hold, _ = services.hold_create(actor=actor, account_id=account,
                                               amount=rng.randint(100, 5000), currency="EUR",
                                               merchant="soak-hotel")
                if rng.random() < 0.7:
                    services.hold_capture(actor=actor, hold_id=hold.pk)
                    counts["capture"] += 1
                else:
                    services.hold_void(actor=actor, hold_id=hold.pk)
                    counts["void"] += 1
        except Exception as exc:  # noqa: BLE001 - counted; the load goes on
            counts["error"] += 1
            key = f"{type(exc).__name__}: {exc}"[:120]
            errors[key] = errors.get(key, 0) + 1
        next_at += every
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -5:  # behind by more than 5 s: do not try to catch up in a burst
            next_at = time.monotonic()
    return {"counts": counts, "errors": errors}


def django_task_main(task: str) -> None:
    payload = json.loads(sys.stdin.read() or "{}")
    result = {"setup": task_setup, "feed": task_feed}[task](payload)
    print("BENCH-RESULT " + json.dumps(result, default=str), flush=True)


def _result(out: str) -> dict[str, Any]:
    marker = "BENCH-RESULT "
    return json.loads(next(ln for ln in out.splitlines() if ln.startswith(marker))[len(marker):])


# --- orchestration -------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=480, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=60, help="warm-up seconds (not measured)")
    ap.add_argument("--rate", type=float, default=36.0,
                    help="ledger operations per second, in all (the soak: about 36)")
    ap.add_argument("--feeders", type=int, default=2, help="feeder processes sharing --rate")
    ap.add_argument("--accounts", type=int, default=32)
    ap.add_argument("--merchants", type=int, default=50)
    ap.add_argument("--sample-every", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trace", action="store_true", help="tracemalloc dumps in the pool child")
    ap.add_argument("--trace-every", type=float, default=30.0)
    ap.add_argument("--trace-frames", type=int, default=1,
                    help="tracemalloc frames with --trace; 0: allocator statistics only "
                         "(tracemalloc slows the worker several times)")
    ap.add_argument("--worker-env", action="append", default=[], metavar="K=V",
                    help="extra environment of the worker only (repeatable)")
    ap.add_argument("--label", default="", help="a name for this run in the JSON")
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args()

    from bench import ledger as L
    from bench import soak

    L.DB_NAME, L.REDIS_DB = DB_NAME, REDIS_DB
    L.check_services()
    L.reset_database()
    L.redis_flush()
    tmp = Path(tempfile.mkdtemp(prefix="worker-memory-"))
    env = L.bench_env(tmp, secrets.token_urlsafe(16), "bench.bench_settings")
    env.update({"CELERY_TASK_ALWAYS_EAGER": "false",
                "CELERY_BROKER_URL": f"redis://{L.REDIS_HOST}:{L.REDIS_PORT}/{REDIS_DB}",
                "FRAUD_SCORING_NUDGE": "false", "OUTBOX_RELAY_SECONDS": "1"})
    worker_env = dict(env)
    for kv in args.worker_env:
        k, _, v = kv.partition("=")
        worker_env[k] = v
    schedule = str(tmp / "beat-schedule")
    celery_args = ["-A", "creditplatform", "worker", "-B", "--concurrency", "1",
                   "-l", "WARNING", "-s", schedule]
    trace_path = tmp / "trace.jsonl"
    if args.trace:
        cmd = [str(PYTHON), str(Path(__file__).resolve()), "--celery-shim", *celery_args]
        worker_env.update({"WORKER_MEMORY_TRACE": str(trace_path),
                           "WORKER_MEMORY_TRACE_EVERY": str(args.trace_every),
                           "WORKER_MEMORY_TRACE_FRAMES": str(args.trace_frames),
                           "WORKER_MEMORY_TRACE_FROM": str(args.warmup)})
    else:
        cmd = [str(CELERY), *celery_args]
    worker: subprocess.Popen | None = None
    feeders: list[subprocess.Popen] = []
    readers: list[threading.Thread] = []
    try:
        L.run_manage(env, "migrate", "--noinput", "-v0")
        setup = subprocess.run(
            [str(PYTHON), str(Path(__file__).resolve()), "--django-task", "setup"],
            cwd=ROOT, env=env, input=json.dumps({"accounts": args.accounts}),
            capture_output=True, text=True, timeout=300, check=True)
        accounts = _result(setup.stdout)["accounts"]
        with open(tmp / "worker.log", "wb") as out:
            worker = subprocess.Popen(cmd, cwd=ROOT, env=worker_env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        t_start = time.monotonic()
        until = time.time() + args.warmup + args.duration
        feed_out: dict[int, tuple[str, str]] = {}
        for i in range(args.feeders):
            proc = subprocess.Popen(
                [str(PYTHON), str(Path(__file__).resolve()), "--django-task", "feed"],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            proc.stdin.write(json.dumps({
                "accounts": accounts, "merchants": args.merchants,
                "rate": args.rate / args.feeders, "seed": args.seed * 1000 + i, "until": until}))
            proc.stdin.close()
            feeders.append(proc)

            def read(i: int = i, proc: subprocess.Popen = proc) -> None:
                feed_out[i] = (proc.stdout.read(), proc.stderr.read())

            readers.append(threading.Thread(target=read, daemon=True))
            readers[-1].start()
        L.log(f"worker-memory: worker pid {worker.pid}, {args.feeders} feeders, "
              f"{len(accounts)} accounts, {args.rate:g} ops/s, "
              f"{args.warmup:g}s + {args.duration:g}s; {L.uptime()}")

        import redis

        r = redis.Redis(host=L.REDIS_HOST, port=L.REDIS_PORT, db=REDIS_DB)
        samples: list[dict[str, Any]] = []
        with L.pg_connect(DB_NAME) as conn:
            while True:
                time.sleep(args.sample_every)
                t = round(time.monotonic() - t_start, 1)
                if worker.poll() is not None:
                    raise RuntimeError("the worker exited; see its log:\n"
                                       + (tmp / "worker.log").read_text()[-3000:])
                roles = worker_roles(worker.pid, L.proc_children(worker.pid))
                row: dict[str, Any] = {"t": t, "pids": roles}
                for role, pid in roles.items():
                    st = proc_status(pid)
                    row[f"rss_kb_{role}"] = st.get("VmRSS", 0)
                    row[f"anon_kb_{role}"] = st.get("RssAnon", 0)
                    row[f"hwm_kb_{role}"] = st.get("VmHWM", 0)
                    row[f"cpu_ticks_{role}"] = L.proc_cpu_ticks(pid) or 0
                row["rss_kb_group"] = sum(row.get(f"rss_kb_{k}", 0)
                                          for k in ("master", "pool", "beat"))
                row["queue_len"] = int(r.llen("celery"))
                row["unscored"] = conn.execute(
                    "SELECT count(*) FROM ledger_journalentry e LEFT JOIN fraud_fraudscore f "
                    "ON f.entry_id = e.id WHERE e.kind IN ('charge', 'capture') "
                    "AND f.entry_id IS NULL").fetchone()[0]
                samples.append(row)
                feeding = any(p.poll() is None for p in feeders)
                print(f"  t={t:6.1f} " + " ".join(
                    f"{k}={row.get(f'rss_kb_{k}', 0) // 1024}M" for k in
                    ("master", "pool", "beat", "group")) + f" queue={row['queue_len']} "
                    f"unscored={row['unscored']}", flush=True)
                if not feeding and (row["unscored"] == 0 or t > args.warmup + args.duration
                                    + 60):
                    break
            scored = conn.execute(
                "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), "
                "max(latency_ms) FROM fraud_fraudscore").fetchone()
            states = conn.execute(
                "SELECT left(key, 1), count(*), max(length(state)), sum(length(state)) "
                "FROM fraud_featureentitystate GROUP BY 1 ORDER BY 1").fetchall()
        for reader in readers:
            reader.join(30)
        feed: dict[str, Any] = {"counts": {}, "errors": {}}
        for out, err in feed_out.values():
            if "BENCH-RESULT" not in out:
                feed.setdefault("stderr", []).append(err[-2000:])
                continue
            part = _result(out)
            for key in ("counts", "errors"):
                for k, v in part[key].items():
                    feed[key][k] = feed[key].get(k, 0) + v
        feed["ops_per_s"] = round(sum(feed["counts"].values())
                                  / (args.warmup + args.duration), 1)
        # the soak's measure: first sample after the warm-up vs the mean of the last quarter
        memory = {role: soak.growth(samples, f"rss_kb_{role}", args.warmup)
                  for role in ("master", "pool", "beat", "group")}
        for role in ("master", "pool", "beat"):
            memory[role]["anon"] = soak.growth(samples, f"anon_kb_{role}", args.warmup)
        trace = ([json.loads(ln) for ln in trace_path.read_text().splitlines()]
                 if trace_path.exists() else [])
        # CPU of the process(es) that ran the tasks: the pool child's utime + stime, summed over
        # children should one be replaced
        last_ticks: dict[int, int] = {}
        for smp in samples:
            for role in ("pool", "master", "beat"):
                if role in smp["pids"]:
                    last_ticks[smp["pids"][role]] = smp[f"cpu_ticks_{role}"]
        pool_pids = {smp["pids"].get("pool") for smp in samples}
        pool_cpu_s = sum(v for k, v in last_ticks.items() if k in pool_pids) / L.CLK_TCK
        result = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "label": args.label, "config": vars(args), "machine": L.uptime(),
            "feed": feed,
            "scores": {"n": scored[0], "p50_latency_ms": scored[1], "max_latency_ms": scored[2],
                       "pool_cpu_s": round(pool_cpu_s, 1),
                       "pool_cpu_ms_per_score": round(1000 * pool_cpu_s / max(1, scored[0]), 2)},
            "feature_states": [{"kind": k, "rows": n, "max_chars": m, "sum_chars": s}
                               for k, n, m, s in states],
            "memory": memory, "samples": samples, "trace": trace,
        }
        L.RESULTS_DIR.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out_path = L.RESULTS_DIR / f"worker-memory-{stamp}.json"
        out_path.write_text(json.dumps(result, indent=1, default=str))
        print(f"\nworker-memory {args.label}: feed {feed['counts']} ({feed['ops_per_s']} ops/s), "
              f"scores {result['scores']}")
        for role, m in memory.items():
            print(f"  rss {role:6} first {m['first_kb']} kB -> last-quarter mean {m['last_kb']} kB"
                  f" (max {m.get('max_kb')}, growth {m['growth']})")
        for row in trace[-1:]:
            print(f"  trace (last): {({k: v for k, v in row.items() if k != 'top_growth'})}")
            for g in row.get("top_growth", [])[:8]:
                print(f"    {g['kb']:>8} kB {g['count']:>8} objs  {g['where']}")
        print(f"  written {out_path.relative_to(ROOT)}")
        return 0
    finally:
        L.teardown(tmp=tmp, keep_db=args.keep_db,
                   processes=[*feeders, *([worker] if worker is not None else [])])


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--django-task":
        django_task_main(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "--celery-shim":
        celery_shim(sys.argv[2:])
    else:
        raise SystemExit(main())
