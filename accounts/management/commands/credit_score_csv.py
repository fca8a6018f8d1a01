"""``manage.py credit_score_csv --applications A.csv --out S.csv [--model-version V]``

Scores a CSV in the credit-default layout (ID, LIMIT_BAL, PAY_0, PAY_2..6, BILL_AMT1..6,
PAY_AMT1..6; SEX, MARRIAGE and EDUCATION are never read, AGE only for the age-of-majority rule,
DEFAULT ignored when present) and writes ``ID,PD,DECISION,LIMIT,REASONS``: PD with 6 decimals,
DECISION approve/decline/refer, LIMIT in NT$ (the dataset's unit) by the CSV limit rule of
:mod:`accounts.credit.policy`, REASONS the adverse-action codes joined with ``;`` (empty on
approvals). The same policy code as the decision service; the mapping is in docs/credit.md.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.credit import pd_model, policy
from accounts.credit.features import RAW_COLUMNS
from creditplatform import model_registry


class Command(BaseCommand):
    help = "Score a credit-default CSV: ID,PD,DECISION,LIMIT,REASONS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--applications", type=Path, required=True)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--registry", type=Path, default=None)
        parser.add_argument("--model-version", dest="model_version", default=None,
                            help="model version (default: latest)")

    def handle(self, *args: Any, **opts: Any) -> None:
        src = Path(opts["applications"])
        if not src.is_file():
            raise CommandError(f"{src}: no such file")
        try:
            art = pd_model.load(registry=opts["registry"] or getattr(
                settings, "CREDIT_MODEL_REGISTRY", None), version=opts["model_version"])
            ds = pd_model.read_dataset(src)
        except (model_registry.RegistryError, pd_model.DataError) as exc:
            raise CommandError(str(exc)) from exc
        pds = pd_model.score(art, ds.columns)
        a = float(art.meta["cutoffs"]["approve_below"])
        b = float(art.meta["cutoffs"]["decline_from"])
        outcomes = [policy.APPROVE if p < a else policy.REFER if p < b else policy.DECLINE
                    for p in pds]
        need = [i for i, o in enumerate(outcomes) if o != policy.APPROVE]
        reasons: dict[int, list[dict[str, Any]]] = {}
        if need:
            sub = {c: v[need] for c, v in ds.columns.items()}
            reasons = dict(zip(need, pd_model.reasons(art, sub), strict=True))
        ages = ds.extra.get("AGE")
        today = dt.datetime.now(dt.UTC).date().isoformat()
        counts = {policy.APPROVE: 0, policy.REFER: 0, policy.DECLINE: 0}
        with open(opts["out"], "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["ID", "PD", "DECISION", "LIMIT", "REASONS"])
            for i, row_id in enumerate(ds.ids):
                age = int(float(ages[i])) if ages and ages[i] not in ("", None) else None
                if age is not None and age < policy.AGE_OF_MAJORITY:
                    # the one rule that reads AGE; decided before the model (policy.decide)
                    inputs = {"mode": "csv", "as_of": today, "age": age,
                              "history": {c: float(ds.columns[c][i]) for c in RAW_COLUMNS}}
                    res = policy.decide(inputs, art)
                    outcome, limit, codes = res.outcome, res.credit_limit, res.reasons
                else:
                    outcome = outcomes[i]
                    limit = policy.csv_limit(float(pds[i]), float(ds.columns["LIMIT_BAL"][i]),
                                             outcome, a)
                    codes = reasons.get(i, [])
                counts[outcome] += 1
                out.writerow([row_id, f"{pds[i]:.6f}", outcome, limit,
                              ";".join(r["code"] for r in codes)])
        self.stdout.write(f"scored {len(ds.ids)} rows with {art.name} {art.version}: "
                          + ", ".join(f"{k} {v}" for k, v in counts.items()))
