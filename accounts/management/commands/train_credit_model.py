"""``manage.py train_credit_model --data PATH [--out DIR] [--rows N] [--no-refit]``

Trains the credit PD model on a labelled CSV in the credit-default layout and registers it in
the shared model registry (``credit-pd``; default root ``accounts/artifacts``, the one the
decision service loads): split, CV, parameters and cut-off rules are in
:mod:`accounts.credit.pd_model` and docs/credit.md. Prints the CV AUC of the train part and the
validation AUC (scored once), and the artifact's path and SHA-256.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.credit import pd_model


class Command(BaseCommand):
    help = "Train the credit PD model (LightGBM, no protected inputs) and register it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
        parser.add_argument("--out", type=Path, default=None,
                            help="registry root (default: CREDIT_MODEL_REGISTRY or "
                                 "accounts/artifacts)")
        parser.add_argument("--rows", type=int, default=None, help="first N rows only (tests)")
        parser.add_argument("--no-refit", action="store_true",
                            help="register the train-part model instead of refitting on all rows")
        parser.add_argument("--min-data-in-leaf", type=int, default=None,
                            help="override (small data sets)")
        parser.add_argument("--threads", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        data = Path(opts["data"])
        if not data.is_file():
            raise CommandError(f"{data}: no such file")
        root = opts["out"] or getattr(settings, "CREDIT_MODEL_REGISTRY", None) \
            or pd_model.DEFAULT_REGISTRY
        overrides: dict[str, Any] = {"num_threads": opts["threads"]}
        if opts["min_data_in_leaf"]:
            overrides["min_data_in_leaf"] = opts["min_data_in_leaf"]
        started = time.monotonic()
        try:
            path, meta = pd_model.train(data=data, registry=root, rows=opts["rows"],
                                        refit_full=not opts["no_refit"], overrides=overrides,
                                        log=lambda msg: (self.stdout.write(msg),
                                                         self.stdout.flush()))
        except pd_model.DataError as exc:
            raise CommandError(str(exc)) from exc
        m = meta["metrics"]
        self.stdout.write(
            f"CV5 AUC (train part) {m['cv5_train_auc']:.4f} ± {m['cv5_train_auc_sd']:.4f}; "
            f"validation AUC {m['val_auc']:.4f} (n={m['n_val']}), Brier {m['val_brier']:.4f}; "
            f"rounds {meta['rounds']}; cut-offs {json.dumps(meta['cutoffs'])}")
        self.stdout.write(f"registered {path} sha256 {meta['model_sha256']} "
                          f"in {time.monotonic() - started:.0f} s")
