"""``manage.py fraud_score_csv --transactions T.csv [--history H.csv] [--feedback F.csv]
--out S.csv``: score a period as live scoring would have, with no look-ahead.

* ``T``: handbook-format transactions to score; label columns, when present, are ignored.
* ``H``: an earlier labelled period streamed first (warm-up); each label becomes known one
  label delay (the model's, 7 days) after its transaction.
* ``F``: ``TRANSACTION_ID,TX_FRAUD,KNOWN_AT`` label feedback (KNOWN_AT in seconds since
  2018-04-01 like TX_TIME_SECONDS, or ``YYYY-MM-DD HH:MM:SS`` UTC); a label influences only
  transactions strictly after its KNOWN_AT.
* Writes ``TRANSACTION_ID,SCORE,DECISION`` (approve / review / decline by the thresholds in the
  model's meta), in the time order of T.

Features come from :class:`fraud.features.FeatureState`, the state live scoring uses; the model
is the registered one (checksum verified), or ``--model-version``.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creditplatform import model_registry
from fraud import ml


class Command(BaseCommand):
    help = "Score a handbook-format CSV with the registered fraud model, without look-ahead."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--transactions", type=Path, required=True)
        parser.add_argument("--history", type=Path, default=None)
        parser.add_argument("--feedback", type=Path, default=None)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--registry", type=Path, default=None,
                            help="registry root (default: settings.FRAUD_MODEL_REGISTRY)")
        parser.add_argument("--model-version", default=None, help="default: the latest")

    def handle(self, *args: Any, **opts: Any) -> None:
        started = time.monotonic()
        for key in ("transactions", "history", "feedback"):
            if opts[key] is not None and not opts[key].is_file():
                raise CommandError(f"{opts[key]}: no such file")
        try:
            model = ml.load_model(root=opts["registry"], version=opts["model_version"])
            txs = ml.read_transactions(opts["transactions"], labels=False)
            history = (ml.read_transactions(opts["history"], labels=True)
                       if opts["history"] else [])
            feedback = ml.read_feedback(opts["feedback"]) if opts["feedback"] else []
            rows = ml.score_stream(model, txs, history=history, feedback=feedback)
        except (ml.DataError, model_registry.RegistryError) as exc:
            raise CommandError(str(exc)) from None
        with opts["out"].open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["TRANSACTION_ID", "SCORE", "DECISION"])
            for tx_id, score, decision in rows:
                w.writerow([tx_id, repr(score), decision])
        counts = {d: sum(1 for r in rows if r[2] == d)
                  for d in (ml.APPROVE, ml.REVIEW, ml.DECLINE)}
        self.stdout.write(
            f"model {model.version}: scored {len(rows)} transactions (history {len(history)}, "
            f"feedback labels {len(feedback)}) -> {opts['out']}; "
            + " ".join(f"{k}={v}" for k, v in counts.items())
            + f"; {time.monotonic() - started:.1f}s")
