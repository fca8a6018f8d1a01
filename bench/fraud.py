"""Fraud benchmarks: pre-authorization rules latency and scoring throughput of one worker.

    make services && .venv/bin/python bench/fraud.py [--rows 1500] [--calls 2000]

1. ``stream``: the registered model scoring the handbook's last week one transaction at a time
   in one process (FeatureState.features -> LightGBM 1-row predict -> update), after warming
   the state on the earlier weeks (not timed). Needs ``../shared/data/fraud-handbook/train.csv``
   (skipped without it). Target: >= 500 tx/s.
2. In a throw-away PostgreSQL test database (``test_<name>`` of DATABASE_URL, default
   ``postgres://postgres@127.0.0.1:5432/creditplatform_bench_fraud``; created, migrated and
   dropped here): the first ``--rows`` rows of ``data/fraud-handbook-sample.csv`` are replayed
   through the charge service, then
   * ``preauth``: ``fraud.preauth.decide`` called in-process ``--calls`` times for replayed
     cards and merchants, each call timed; target p99 <= 5 ms;
   * ``worker``: ``fraud.services.entry_score`` (what the Celery task runs: live features from
     the database, model, idempotent upsert, alert) over the replayed entries after their scores
     are deleted, one at a time: scores per second of one worker process.
Results are printed and written to ``bench/results/fraud-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")
os.environ.setdefault("DATABASE_URL",
                      "postgres://postgres@127.0.0.1:5432/creditplatform_bench_fraud")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CACHE_KEY_PREFIX", "bench-fraud")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("VAR_DIR", "/tmp/creditplatform-bench-fraud")
os.environ.setdefault("PASSWORD_HASHERS", "django.contrib.auth.hashers.MD5PasswordHasher")
TRAIN = ROOT.parent / "shared" / "data" / "fraud-handbook" / "train.csv"
SAMPLE = ROOT / "data" / "fraud-handbook-sample.csv"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]


def bench_stream(limit: int | None) -> dict:
    import numpy as np

    from fraud import ml

    if not TRAIN.is_file():
        return {"skipped": f"{TRAIN} not found"}
    model = ml.load_model()
    txs = ml.read_transactions(TRAIN, labels=True)
    test_start = max(r.day for r in txs) - 6
    st = ml.FeatureState(delay=model.delay)
    i = 0
    while txs[i].day < test_start:                      # warm-up, not timed
        r = txs[i]
        st.features(r.t, r.customer, r.terminal, r.amount)
        st.update(r.tx_id, r.t, r.customer, r.terminal, r.amount)
        st.add_label(r.tx_id, r.fraud, r.t + model.delay)
        i += 1
    rows = txs[i:] if limit is None else txs[i:i + limit]
    scores = []
    t0 = time.perf_counter()
    for r in rows:
        x = st.features(r.t, r.customer, r.terminal, r.amount)
        scores.append(model.predict_one(x))
        st.update(r.tx_id, r.t, r.customer, r.terminal, r.amount)
        st.add_label(r.tx_id, r.fraud, r.t + model.delay)   # in production: when it arrives
    wall = time.perf_counter() - t0
    m = ml.performance([r.day for r in rows], [r.customer for r in rows],
                       [r.fraud for r in rows], np.array(scores))
    return {"model": model.version, "warmup_tx": i, "scored_tx": len(rows),
            "seconds": round(wall, 2), "tx_per_second": round(len(rows) / wall),
            "target_tx_per_second": 500, "ok": len(rows) / wall >= 500,
            "auc_roc": round(m["auc_roc"], 4),
            "average_precision": round(m["average_precision"], 4),
            "card_precision@100": round(m["card_precision@100"], 4)}


class SqlTimer:
    """``connection.execute_wrapper``: statements and their wall time."""

    def __init__(self) -> None:
        self.n = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001
        a = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - a
            self.n += 1


def bench_db(rows: int, calls: int, profile: bool = False) -> dict:
    import csv
    import tempfile

    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    from fraud import ml, services
    from fraud.models import Alert, FraudScore
    from fraud.preauth import decide
    from ledger.models import JournalEntry
    from ledger.preauth import PreauthRequest

    setup_test_environment()
    cache.delete_pattern("*")  # this prefix only: idempotent replays of an earlier run
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "rows.csv"
            with SAMPLE.open(newline="") as src, path.open("w", newline="") as dst:
                reader = csv.reader(src)
                w = csv.writer(dst)
                for n, line in enumerate(reader):
                    if n > rows:
                        break
                    w.writerow(line)
            t0 = time.perf_counter()
            call_command("replay_transactions", str(path), "--no-progress")
            replay_s = time.perf_counter() - t0
        entries = list(JournalEntry.objects.filter(kind=JournalEntry.Kind.CHARGE)
                       .select_related("account", "card").order_by("occurred_at"))
        rng = random.Random(1)
        latest = entries[-1].occurred_at + dt.timedelta(minutes=5)
        lat = []
        decisions: dict[str, int] = {}
        sql = SqlTimer()
        for _ in range(calls):
            e = rng.choice(entries)
            req = PreauthRequest(account=e.account, card=e.card, amount=rng.randint(100, 30_000),
                                 currency=e.currency, merchant=e.merchant, occurred_at=latest)
            a = time.perf_counter()
            with connection.execute_wrapper(sql):
                d = decide(req)
            lat.append((time.perf_counter() - a) * 1000)
            decisions[d.decision] = decisions.get(d.decision, 0) + 1
        preauth = {"calls": calls, "p50_ms": round(pct(lat, 50), 3),
                   "p99_ms": round(pct(lat, 99), 3), "max_ms": round(max(lat), 3),
                   "decisions": decisions, "sql_statements_per_call": sql.n / calls,
                   "sql_ms_per_call": round(1000 * sql.seconds / calls, 3),
                   "target_p99_ms": 5, "ok": pct(lat, 99) <= 5}
        print("preauth:", json.dumps(preauth), flush=True)
        Alert.objects.all().delete()
        FraudScore.objects.all().delete()
        model = ml.current_model()
        sql = SqlTimer()
        feat_s = 0.0
        live = ml.live_features

        def timed_live(*a: object, **kw: object) -> list[float]:
            nonlocal feat_s
            b = time.perf_counter()
            try:
                return live(*a, **kw)
            finally:
                feat_s += time.perf_counter() - b

        ml.live_features = timed_live
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
        t0 = time.perf_counter()
        with connection.execute_wrapper(sql):
            if prof:
                prof.enable()
            for e in entries:
                services.entry_score(entry_id=e.pk)
            if prof:
                prof.disable()
        wall = time.perf_counter() - t0
        if prof:
            import pstats

            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        ml.live_features = live
        worker = {"entries": len(entries), "seconds": round(wall, 2),
                  "scores_per_second": round(len(entries) / wall, 1),
                  "model": model.version if model else "rules-v1",
                  "alerts": Alert.objects.count(),
                  "sql_statements_per_score": sql.n / len(entries),
                  "sql_ms_per_score": round(1000 * sql.seconds / len(entries), 3),
                  "live_features_ms_per_score": round(1000 * feat_s / len(entries), 3),
                  "target_per_second": 500,
                  "ok": len(entries) / wall >= 500}
        print("worker:", json.dumps(worker), flush=True)
        return {"replay": {"rows": rows, "seconds": round(replay_s, 1)}, "preauth": preauth,
                "worker": worker}
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        cache.delete_pattern("*")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1500, help="sample rows to replay")
    ap.add_argument("--calls", type=int, default=2000, help="timed pre-authorization calls")
    ap.add_argument("--stream-limit", type=int, default=None)
    ap.add_argument("--no-db", action="store_true", help="only the stream benchmark")
    ap.add_argument("--no-stream", action="store_true", help="skip the stream benchmark")
    ap.add_argument("--profile", action="store_true", help="cProfile the worker loop")
    args = ap.parse_args()
    import django

    django.setup()
    out = {"started": dt.datetime.now(dt.UTC).isoformat(), "load_before": os.getloadavg()}
    if not args.no_stream:
        out["stream"] = bench_stream(args.stream_limit)
        print("stream:", json.dumps(out["stream"]), flush=True)
    if not args.no_db:
        out.update(bench_db(args.rows, args.calls, args.profile))
    out["load_after"] = os.getloadavg()
    res = ROOT / "bench" / "results"
    res.mkdir(exist_ok=True)
    path = res / f"fraud-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
