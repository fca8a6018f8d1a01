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

from accounts.credit.pd_model import REASON_CODES as PLATFORM_REASON_CODES  # noqa: E402

HERE = Path(__file__).resolve().parent

# code -> (text for the applicant, features that feed it): the platform's table
# (accounts/credit/pd_model.py), plus R11 for the comparison model that uses EDUCATION (not a
# recommended basis for a decision: a likely proxy for protected attributes).
REASON_CODES: dict[str, tuple[str, list[str]]] = {
    **PLATFORM_REASON_CODES,
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
