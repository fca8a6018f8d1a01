"""``manage.py train_fraud_model --data PATH [--out DIR] [--label-delay-days 7] [--test-days 7]``

Trains the fraud model on a labelled handbook-format CSV and registers it:

* features: every row streamed through :class:`fraud.features.FeatureState` (the code live
  scoring uses), each label known ``--label-delay-days`` after its transaction;
* temporal split: the last ``--test-days`` days are the validation period, the
  ``--label-delay-days`` before it are a gap (not fitted; their labels reach the validation
  features only once known), training is everything earlier, starting
  ``--train-start-offset-days`` after the first day (windows warmed up);
* LightGBM with the research hyper-parameters (deterministic seed, ``--threads``);
* prints AUC ROC, average precision and Card Precision@100 of the validation period next to
  the handbook's published figures, and registers ``model.txt`` + ``meta.json`` under
  ``--out`` (default: the registry the platform loads, ``fraud/artifacts``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from creditplatform import model_registry
from fraud import ml


class Command(BaseCommand):
    help = "Train the LightGBM fraud model on a handbook-format CSV and register it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
        parser.add_argument("--out", type=Path, default=None,
                            help="registry root (default: settings.FRAUD_MODEL_REGISTRY)")
        parser.add_argument("--name", default=ml.MODEL_NAME)
        parser.add_argument("--label-delay-days", type=int, default=7)
        parser.add_argument("--test-days", type=int, default=7)
        parser.add_argument("--train-start-offset-days", type=int,
                            default=ml.DEFAULT_TRAIN_START_OFFSET_DAYS)
        parser.add_argument("--rounds", type=int, default=ml.DEFAULT_ROUNDS)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--min-data-in-leaf", type=int, default=None,
                            help="override (small data sets)")

    def handle(self, *args: Any, **opts: Any) -> None:
        data: Path = opts["data"]
        if not data.is_file():
            raise CommandError(f"{data}: no such file")
        started = time.monotonic()

        def log(msg: str) -> None:
            self.stdout.write(msg)
            self.stdout.flush()

        log(f"reading {data}")
        try:
            txs = ml.read_transactions(data, labels=True)
            params = {}
            if opts["min_data_in_leaf"] is not None:
                params["min_data_in_leaf"] = opts["min_data_in_leaf"]
            result = ml.train(txs, label_delay_days=opts["label_delay_days"],
                              test_days=opts["test_days"],
                              train_start_offset_days=opts["train_start_offset_days"],
                              rounds=opts["rounds"], threads=opts["threads"], params=params,
                              log=log)
        except ml.DataError as exc:
            raise CommandError(str(exc)) from None
        meta = dict(result.meta, data_file=data.name, data_sha256=ml.file_sha256(data),
                    data_rows=len(txs))
        root = opts["out"] or ml.registry_root()
        path = model_registry.register(root=root, name=opts["name"],
                                       model_text=result.model_text, meta=meta)
        m = meta["metrics_test"]
        ref = ml.HANDBOOK_REFERENCE
        log("validation period {} .. {}:".format(*meta["split"]["test"]))
        for key in ("auc_roc", "average_precision", "card_precision@100"):
            log(f"  {key:20s} {m[key]:.4f}   (handbook {ref[key]:.3f})")
        log(f"  CP@100 per day {json.dumps([round(x, 2) for x in m['card_precision@100_per_day']])}"
            f", ceiling {m['card_precision@100_ceiling']:.3f}")
        log(f"thresholds: review >= {meta['thresholds']['review']:.4f}, "
            f"decline >= {meta['thresholds']['decline']:.4f}")
        size = (path / model_registry.MODEL_FILE).stat().st_size
        log(f"registered {path} ({size / 1e6:.2f} MB, sha256 "
            f"{model_registry.sha256_file(path / model_registry.MODEL_FILE)}) "
            f"in {time.monotonic() - started:.0f}s")
