"""``manage.py fraud_report --transactions T.csv --scores S.csv [--top-k 100] [--json]``

AUC ROC, average precision and Card Precision@k (handbook ch. 4: per day, cards ranked by their
highest score, cards already detected on an earlier day removed, averaged over days) of the
scores ``S`` (``TRANSACTION_ID,SCORE``) against the labels of ``T`` (handbook format with
``TX_FRAUD``). Transactions of T without a score are an error.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fraud import ml


class Command(BaseCommand):
    help = "AUC ROC, average precision and Card Precision@k of fraud scores."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transactions", type=Path, required=True)
        parser.add_argument("--scores", type=Path, required=True)
        parser.add_argument("--top-k", type=int, default=100)
        parser.add_argument("--json", action="store_true", help="print the metrics as JSON")

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
