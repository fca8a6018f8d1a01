"""Adverse-action reason codes (ECOA / Regulation B style) from TreeSHAP.

For one applicant, LightGBM's built-in TreeSHAP (``booster.predict(X,
pred_contrib=True)``) splits the model's log-odds score into one additive
contribution per feature plus the expected value (last column).  Features are
grouped into reason codes, contributions are summed per code, and the codes that
push PD *up* the most (positive log-odds) are the principal reasons.

Usage:
    .venv/bin/python reasons.py --id 2            # applicant from train.csv by ID
    .venv/bin/python reasons.py --json '{"LIMIT_BAL": 20000, "PAY_0": 2, ...}'
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Mapping

import lightgbm as lgb
import numpy as np
import pandas as pd

from features import features_from_row

HERE = Path(__file__).resolve().parent

# code -> (short text for the applicant, features that feed it)
REASON_CODES: dict[str, tuple[str, list[str]]] = {
    "R01": ("Recent payment delinquency on this account (most recent statement)",
            ["DELAY_1"]),
    "R02": ("Payment delinquency in the past six months",
            ["DELAY_2", "DELAY_3", "DELAY_4", "DELAY_5", "DELAY_6",
             "N_DELAYED", "MAX_DELAY", "MONTHS_SINCE_DELAY"]),
    "R03": ("High utilization of credit limit (balance high relative to limit)",
            ["UTIL_1", "UTIL_2", "UTIL_3", "UTIL_4", "UTIL_5", "UTIL_6",
             "UTIL_MEAN", "UTIL_MAX", "HEADROOM"]),
    "R04": ("Balances rising relative to credit limit",
            ["UTIL_TREND", "UTIL_TREND3"]),
    "R05": ("Payments low relative to amount billed",
            ["PAY_RATIO_1", "PAY_RATIO_2", "PAY_RATIO_3", "PAY_RATIO_4",
             "PAY_RATIO_5", "PAY_RATIO_TOTAL"]),
    "R06": ("Amount of recent payments too low or payments missed",
            ["PAY_AMT1", "PAY_AMT2", "PAY_AMT3", "PAY_AMT4", "PAY_AMT5",
             "PAY_AMT6", "PAY_MEAN", "PAY_TO_LIMIT", "N_ZERO_PAY"]),
    "R07": ("Level of outstanding balances",
            ["BILL_AMT1", "BILL_AMT2", "BILL_AMT3", "BILL_AMT4", "BILL_AMT5",
             "BILL_AMT6", "BILL_MEAN"]),
    "R08": ("Existing credit limit too low (limited established credit capacity)",
            ["LIMIT_BAL"]),
    "R09": ("Balance revolved rather than paid in full in recent months",
            ["DULY_1", "DULY_2", "DULY_3", "N_DULY"]),
    "R10": ("Insufficient recent account activity",
            ["NOUSE_1", "NOUSE_2", "NOUSE_3", "N_NOUSE", "N_ZERO_BILL"]),
    # Only present in the comparison model that uses EDUCATION.  Not a
    # recommended basis for a decision (likely proxy for protected attributes).
    "R11": ("Education level", ["EDUCATION"]),
}
FEATURE_TO_CODE = {f: code for code, (_, feats) in REASON_CODES.items() for f in feats}


def check_mapping(feature_names: list[str]) -> None:
    missing = [f for f in feature_names if f not in FEATURE_TO_CODE]
    if missing:
        raise ValueError(f"features without a reason code: {missing}")


def reason_codes_from_contrib(contrib_row: np.ndarray, feature_names: list[str],
                              top_k: int = 4) -> list[dict]:
    """contrib_row: one row of pred_contrib output (n_features + 1, log-odds)."""
    check_mapping(feature_names)
    per_code: dict[str, float] = {}
    per_feat: dict[str, list[tuple[str, float]]] = {}
    for f, c in zip(feature_names, contrib_row[:-1]):
        code = FEATURE_TO_CODE[f]
        per_code[code] = per_code.get(code, 0.0) + float(c)
        per_feat.setdefault(code, []).append((f, float(c)))
    ranked = sorted(((v, k) for k, v in per_code.items() if v > 0), reverse=True)
    out = []
    for v, code in ranked[:top_k]:
        feats = sorted(per_feat[code], key=lambda t: -t[1])
        out.append({"code": code, "text": REASON_CODES[code][0],
                    "logodds_contribution": round(v, 4),
                    "drivers": [f for f, c in feats if c > 0][:3]})
    return out


def explain(booster: lgb.Booster, application: Mapping, top_k: int = 4,
            include_education: bool = False) -> dict:
    """PD and the top-k principal reasons for one raw application (dict)."""
    X = features_from_row(application, include_education=include_education)
    names = booster.feature_name()
    X = X[names]
    pd_ = float(booster.predict(X)[0])
    contrib = booster.predict(X, pred_contrib=True)[0]
    return {"pd": pd_, "base_logodds": float(contrib[-1]),
            "reasons": reason_codes_from_contrib(contrib, names, top_k)}


def load_booster(path: Path | str = HERE / "model.txt") -> lgb.Booster:
    return lgb.Booster(model_file=str(path))


def mapping_table_markdown() -> str:
    lines = ["| code | reason text | features |", "|---|---|---|"]
    for code, (text, feats) in REASON_CODES.items():
        lines.append(f"| {code} | {text} | {', '.join(feats)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", type=int, help="ID of a row in train.csv")
    ap.add_argument("--json", help="raw application as a JSON object")
    ap.add_argument("--model", default=str(HERE / "model.txt"))
    ap.add_argument("--data", default="/work/shared/data/credit-default/train.csv")
    a = ap.parse_args()
    booster = load_booster(a.model)
    edu = "EDUCATION" in booster.feature_name()
    if a.json:
        app = json.loads(a.json)
    elif a.id is not None:
        df = pd.read_csv(a.data)
        app = df.loc[df["ID"] == a.id].iloc[0].to_dict()
    else:
        ap.error("give --id or --json")
    print(json.dumps(explain(booster, app, include_education=edu), indent=2))


if __name__ == "__main__":
    main()
