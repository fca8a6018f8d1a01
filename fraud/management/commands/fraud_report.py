"""``manage.py fraud_report --transactions T.csv --scores S.csv [--top-k 100] [--json]``

AUC ROC, average precision and Card Precision@k (handbook ch. 4: per day, cards ranked by their
highest score, cards already detected on an earlier day removed, averaged over days) of the
scores ``S`` (``TRANSACTION_ID,SCORE``) against the labels of ``T`` (handbook format with
``TX_FRAUD``). Transactions of T without a score are an error.

``--store-pr-curve [--model-version V]`` also stores the precision-recall curve of these scores
(at most ``PR_POINTS`` points, JSON numbers) in the registry metadata of the registered model
(``meta.json`` key ``pr_curve``; the model file and its checksum are untouched), for the admin's
model card. Run it on the model's own validation period, scored by ``fraud_score_csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creditplatform import model_registry
from fraud import ml

PR_POINTS = 200


def pr_curve(y: list[int], score: list[float], points: int = PR_POINTS) -> dict[str, list]:
    """Precision and recall at each distinct score threshold (highest first), thinned to at most
    ``points`` points: half evenly spread over the thresholds (the first and last kept), half
    at evenly spaced recall levels."""
    import numpy as np

    ya = np.asarray(y, dtype=np.int64)
    sa = np.asarray(score, dtype=np.float64)
    order = np.argsort(-sa, kind="mergesort")
    ys, ss = ya[order], sa[order]
    last = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])
    tp = np.cumsum(ys)[last]
    precision = tp / (last + 1)
    recall = tp / max(int(ya.sum()), 1)
    # half the points evenly over the thresholds, half at evenly spaced recall levels (the
    # high-precision start of the curve spans few thresholds but much of the recall)
    half = max(points // 2, 1)
    by_rank = np.linspace(0, len(last) - 1, min(half, len(last))).round().astype(int)
    by_recall = np.minimum(np.searchsorted(recall, np.linspace(0, 1, half), side="left"),
                           len(last) - 1)
    keep = np.unique(np.r_[by_rank, by_recall])
    return {"precision": [round(float(v), 5) for v in precision[keep]],
            "recall": [round(float(v), 5) for v in recall[keep]],
            "thresholds": [round(float(v), 6) for v in ss[last][keep]]}


def store_pr_curve(*, curve: dict[str, Any], version: str | None) -> Path:
    """Write ``curve`` into ``meta.json`` of a registered model (atomic replace, mode 0644)."""
    root = ml.registry_root()
    path, meta = model_registry.load_meta(root=root, name=ml.MODEL_NAME, version=version)
    meta["pr_curve"] = curve
    target = path / model_registry.META_FILE
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=False) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


class Command(BaseCommand):
    help = "AUC ROC, average precision and Card Precision@k of fraud scores."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transactions", type=Path, required=True)
        parser.add_argument("--scores", type=Path, required=True)
        parser.add_argument("--top-k", type=int, default=100)
        parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
        parser.add_argument("--store-pr-curve", action="store_true",
                            help="store the precision-recall curve in the registered model's "
                                 "metadata (for the admin's model card)")
        parser.add_argument("--model-version", default=None,
                            help="with --store-pr-curve: the version (default: the latest)")

    def handle(self, *args: Any, **opts: Any) -> None:
        for key in ("transactions", "scores"):
            if not opts[key].is_file():
                raise CommandError(f"{opts[key]}: no such file")
        try:
            txs = ml.read_transactions(opts["transactions"], labels=True)
        except ml.DataError as exc:
            raise CommandError(str(exc)) from None
        scores: dict[int, float] = {}
        with opts["scores"].open(newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"TRANSACTION_ID", "SCORE"} <= set(reader.fieldnames or []):
                raise CommandError(f"{opts['scores']}: needs TRANSACTION_ID and SCORE columns")
            for line, raw in enumerate(reader, start=2):
                try:
                    scores[int(raw["TRANSACTION_ID"])] = float(raw["SCORE"])
                except (TypeError, ValueError) as exc:
                    raise CommandError(f"{opts['scores']}, line {line}: {exc}") from None
        missing = [r.tx_id for r in txs if r.tx_id not in scores]
        if missing:
            raise CommandError(f"{len(missing)} transactions have no score (first: {missing[0]})")
        k = opts["top_k"]
        m = ml.performance([r.day for r in txs], [r.customer for r in txs],
                           [r.fraud for r in txs], [scores[r.tx_id] for r in txs], k)
        if opts["store_pr_curve"]:
            days = sorted({r.day for r in txs})
            curve = pr_curve([r.fraud for r in txs], [scores[r.tx_id] for r in txs])
            curve.update({
                "source": f"{opts['transactions'].name}: {m['n_tx']} transactions, "
                          f"{m['n_fraud']} frauds, {ml.day_str(days[0])} .. "
                          f"{ml.day_str(days[-1])}",
                "transactions_sha256": ml.file_sha256(opts["transactions"]),
                "scores_sha256": ml.file_sha256(opts["scores"]),
                "average_precision": round(m["average_precision"], 5),
                "computed_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()})
            try:
                where = store_pr_curve(curve=curve, version=opts["model_version"])
            except model_registry.RegistryError as exc:
                raise CommandError(str(exc)) from None
            self.stderr.write(f"precision-recall curve ({len(curve['recall'])} points) "
                              f"stored in {where}")
        if opts["json"]:
            self.stdout.write(json.dumps(m, indent=1))
            return
        ref = ml.HANDBOOK_REFERENCE
        days = sorted({r.day for r in txs})
        self.stdout.write(f"{m['n_tx']} transactions, {m['n_fraud']} frauds, "
                          f"{len(days)} days {ml.day_str(days[0])} .. {ml.day_str(days[-1])}")
        for key in ("auc_roc", "average_precision", f"card_precision@{k}"):
            hb = f"   (handbook {ref[key]:.3f})" if key in ref else ""
            self.stdout.write(f"{key:20s} {m[key]:.4f}{hb}")
        self.stdout.write(f"card_precision@{k} per day: "
                          + ", ".join(f"{x:.2f}" for x in m[f"card_precision@{k}_per_day"])
                          + f" (ceiling {m[f'card_precision@{k}_ceiling']:.3f})")
