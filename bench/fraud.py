"""Fraud scoring benchmarks: the model on a stream, and one worker's throughput.

    make services && .venv/bin/python bench/fraud.py [--rows 600] [--batch 100]

1. ``stream``: the registered model scoring the handbook's last week one transaction at a time
   in one process (FeatureState.features -> LightGBM 1-row predict -> update), after warming
   the state on the earlier weeks (not timed). Needs ``../shared/data/fraud-handbook/train.csv``
   (skipped without it).
2. In a throw-away PostgreSQL test database (``test_<name>`` of DATABASE_URL, default
   ``postgres://postgres@127.0.0.1:5432/creditplatform_bench_fraud``; created, migrated and
   dropped here): the first ``--rows`` rows of ``data/fraud-handbook-sample.csv`` are replayed
   through the charge service, then all scores, alerts and the feature store are deleted and
   the charges scored again, in time order, by the real task bodies in this process:
   * ``worker``: ``fraud.tasks.score_entry`` per entry (entry read, score-row check, features
     from the live feature store, LightGBM, FraudScore insert, alert above the threshold);
   * ``worker_batch``: ``fraud.tasks.score_entries`` with ``--batch`` entries per task (one
     store round trip, one predict, one INSERT of the scores per batch).
   Each gives scores per second of one worker process, SQL statements and time per score, this
   process's CPU and its PostgreSQL backend's CPU per score (``/proc``), and
   ``quiet_machine_estimate_per_second`` = entries / (client + server CPU seconds): what one
   worker would do with both sides on an idle core each (round-trip latency excluded).
Target (issue 6, part 8): >= 500 scores/s. Pre-authorization latency: ``bench/preauth.py``.
Results are printed and written to ``bench/results/fraud-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.embedded import backend_cpu_seconds, configure, pct  # noqa: E402

configure("fraud")
TRAIN = ROOT.parent / "shared" / "data" / "fraud-handbook" / "train.csv"
SAMPLE = ROOT / "data" / "fraud-handbook-sample.csv"


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


def _clear_scores() -> None:
    """Delete every score, alert and what hangs off alerts, and empty the feature store, so the
    entries can be scored again from scratch (benchmark database only)."""
    from fraud import feature_store, models

    for name in ("CardholderNotification", "FraudLabel", "Alert", "FraudScore"):
        model = getattr(models, name, None)
        if model is not None:
            model.objects.all().delete()
    feature_store.reset()


def bench_db(rows: int, profile: bool = False, batch: int = 100) -> dict:
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    from fraud import feature_store, ml
    from fraud.models import Alert
    from fraud.tasks import score_entry
    from ledger.models import JournalEntry

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
                       .order_by("occurred_at", "id").values_list("id", flat=True))
        model = ml.current_model()
        out: dict = {"replay": {"rows": rows, "seconds": round(replay_s, 1)},
                     "preauth": "see bench/preauth.py"}

        # 1. one entry per task, the real task body (fraud.tasks.score_entry): entry read,
        # score row check, features from the store, LightGBM, upserts, alert when above.
        _clear_scores()
        sql = SqlTimer()
        feat_s = 0.0
        real = feature_store.entries_features

        def timed(*a: object, **kw: object) -> list:
            nonlocal feat_s
            b = time.perf_counter()
            try:
                return real(*a, **kw)
            finally:
                feat_s += time.perf_counter() - b

        feature_store.entries_features = timed
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
        b0 = backend_cpu_seconds()
        c0 = time.process_time()
        t0 = time.perf_counter()
        with connection.execute_wrapper(sql):
            if prof:
                prof.enable()
            for pk in entries:
                score_entry(str(pk))
            if prof:
                prof.disable()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        server = backend_cpu_seconds() - b0
        feature_store.entries_features = real
        if prof:
            import pstats

            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        out["worker"] = {
            "entries": len(entries), "seconds": round(wall, 2),
            "scores_per_second": round(len(entries) / wall, 1),
            "cpu_ms_per_score": round(1000 * cpu / len(entries), 3),
            "postgres_cpu_ms_per_score": round(1000 * server / len(entries), 3),
            "quiet_machine_estimate_per_second": round(len(entries) / (cpu + server), 1)
            if cpu + server > 0 else None,
            "model": model.version if model else "rules-v1", "alerts": Alert.objects.count(),
            "sql_statements_per_score": round(sql.n / len(entries), 2),
            "sql_ms_per_score": round(1000 * sql.seconds / len(entries), 3),
            "feature_store_ms_per_score": round(1000 * feat_s / len(entries), 3),
            "target_per_second": 500, "ok": len(entries) / wall >= 500}
        print("worker:", json.dumps(out["worker"]), flush=True)

        # 2. a batch of entries per task (fraud.tasks.score_entries), if present
        from fraud import tasks

        if hasattr(tasks, "score_entries"):
            _clear_scores()
            sql = SqlTimer()
            b0 = backend_cpu_seconds()
            c0 = time.process_time()
            t0 = time.perf_counter()
            if prof:
                prof = cProfile.Profile()
                prof.enable()
            with connection.execute_wrapper(sql):
                for i in range(0, len(entries), batch):
                    tasks.score_entries([str(pk) for pk in entries[i:i + batch]])
            if prof:
                prof.disable()
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            server = backend_cpu_seconds() - b0
            if prof:
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            out["worker_batch"] = {
                "entries": len(entries), "batch": batch, "seconds": round(wall, 2),
                "scores_per_second": round(len(entries) / wall, 1),
                "cpu_ms_per_score": round(1000 * cpu / len(entries), 3),
                "postgres_cpu_ms_per_score": round(1000 * server / len(entries), 3),
                "quiet_machine_estimate_per_second": round(len(entries) / (cpu + server), 1)
                if cpu + server > 0 else None,
                "alerts": Alert.objects.count(),
                "sql_statements_per_score": round(sql.n / len(entries), 2),
                "sql_ms_per_score": round(1000 * sql.seconds / len(entries), 3),
                "target_per_second": 500, "ok": len(entries) / wall >= 500}
            print("worker_batch:", json.dumps(out["worker_batch"]), flush=True)

        # a quiet-machine yardstick measured in the same run: one SQL round trip
        lat = []
        for _ in range(2000):
            a = time.perf_counter()
            with connection.cursor() as c:
                c.execute("SELECT 1")
                c.fetchone()
            lat.append((time.perf_counter() - a) * 1000)
        out["select_1_p50_ms"] = round(pct(lat, 50), 4)
        return out
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        cache.delete_pattern("*")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=600, help="sample rows to replay")
    ap.add_argument("--batch", type=int, default=100, help="entries per batch task")
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
        out.update(bench_db(args.rows, args.profile, args.batch))
    out["load_after"] = os.getloadavg()
    res = ROOT / "bench" / "results"
    res.mkdir(exist_ok=True)
    path = res / f"fraud-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
