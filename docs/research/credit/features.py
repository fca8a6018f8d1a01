"""Feature engineering for the credit-default PD model.

Every feature is a *pure* function of one applicant's own row: no statistics are
fitted on the training data, nothing is read from other rows.  The same code
therefore works on a batch (``build_features``) and on a single live
application (``features_from_row``); ``tests`` in train.py check the two agree.

Input columns (UCI "default of credit card clients" naming):
    LIMIT_BAL, EDUCATION, PAY_0, PAY_2..PAY_6, BILL_AMT1..6, PAY_AMT1..6
    (SEX, MARRIAGE, AGE are protected; they are read only when
     include_protected=True, which exists solely for the comparison baseline.)

Month index k = 1..6 means Sep, Aug, Jul, Jun, May, Apr 2005 (k=1 is the most
recent).  Repayment status PAY_k: -2 no consumption, -1 paid duly, 0 revolving /
minimum paid, 1..8 months of delay.  Because -2/-1/0 are not an ordinal scale, each
status is split into a delay count DELAY_k = max(PAY_k, 0) (ordinal, so PD can be
constrained non-decreasing in it) and two flags NOUSE_k (PAY_k == -2) and
DULY_k (PAY_k == -1).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

PAY_COLS = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
BILL_COLS = [f"BILL_AMT{k}" for k in range(1, 7)]
PAYAMT_COLS = [f"PAY_AMT{k}" for k in range(1, 7)]
PROTECTED = ["SEX", "MARRIAGE", "AGE"]
PROXY = ["EDUCATION"]
RAW_REQUIRED = ["LIMIT_BAL"] + PAY_COLS + BILL_COLS + PAYAMT_COLS

# Features on which PD is constrained to be non-decreasing (+1) or
# non-increasing (-1) when monotone=True in train.py.
# Together these guarantee, at the level of the *raw* inputs, that PD is
# non-decreasing in every PAY_k over 0..8 (all other fields fixed): raising PAY_k
# raises DELAY_k / N_DELAYED / MAX_DELAY and can only lower MONTHS_SINCE_DELAY,
# and no other feature depends on PAY_k when PAY_k >= 0.
MONOTONE = {
    **{f"DELAY_{k}": 1 for k in range(1, 7)},  # months of delay in month k
    "MAX_DELAY": 1,            # worst delay over 6 months
    "N_DELAYED": 1,            # number of months with any delay
    "MONTHS_SINCE_DELAY": -1,  # more recent delay -> higher PD
}


def _safe_ratio(num: np.ndarray, den: np.ndarray, cap: float) -> np.ndarray:
    """num/den where den > 0, clipped to [-cap, cap]; NaN (missing) where den <= 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = np.clip(num[ok] / den[ok], -cap, cap)
    return out


def build_features(df: pd.DataFrame, include_education: bool = False,
                   include_protected: bool = False) -> pd.DataFrame:
    """Row-wise feature table.  Output row i depends only on input row i."""
    missing = [c for c in RAW_REQUIRED if c not in df.columns]
    if missing:
        raise KeyError(f"missing input columns: {missing}")
    limit = df["LIMIT_BAL"].to_numpy(dtype=float)
    pay = df[PAY_COLS].to_numpy(dtype=float)          # (n, 6), k=1..6
    bill = df[BILL_COLS].to_numpy(dtype=float)
    paid = df[PAYAMT_COLS].to_numpy(dtype=float)
    delay = np.maximum(pay, 0.0)

    f: dict[str, np.ndarray] = {"LIMIT_BAL": limit}
    for k in range(6):
        f[f"DELAY_{k + 1}"] = delay[:, k]
    for k in range(3):  # status flags for the three most recent months
        f[f"NOUSE_{k + 1}"] = (pay[:, k] == -2).astype(float)
        f[f"DULY_{k + 1}"] = (pay[:, k] == -1).astype(float)
    f["N_DELAYED"] = (delay > 0).sum(axis=1).astype(float)
    f["MAX_DELAY"] = delay.max(axis=1)
    f["N_DULY"] = (pay == -1).sum(axis=1).astype(float)
    f["N_NOUSE"] = (pay == -2).sum(axis=1).astype(float)
    # months since the most recent delay (1 = this month; 7 = none in window)
    any_delay = delay > 0
    first = np.where(any_delay.any(axis=1), any_delay.argmax(axis=1) + 1, 7)
    f["MONTHS_SINCE_DELAY"] = first.astype(float)

    # amounts
    for k in range(6):
        f[f"BILL_AMT{k + 1}"] = bill[:, k]
        f[f"PAY_AMT{k + 1}"] = paid[:, k]
    # utilisation of the credit limit
    util = bill / limit[:, None]
    for k in range(6):
        f[f"UTIL_{k + 1}"] = util[:, k]
    f["UTIL_MEAN"] = util.mean(axis=1)
    f["UTIL_MAX"] = util.max(axis=1)
    f["UTIL_TREND"] = util[:, 0] - util[:, 5]          # Sep minus Apr
    f["UTIL_TREND3"] = util[:, 0] - util[:, 2]         # Sep minus Jul
    f["HEADROOM"] = limit - bill[:, 0]                 # unused limit, NT$
    # payment in month k pays the bill of the prior month (k+1)
    for k in range(5):
        f[f"PAY_RATIO_{k + 1}"] = _safe_ratio(paid[:, k], bill[:, k + 1], cap=5.0)
    f["PAY_RATIO_TOTAL"] = _safe_ratio(paid[:, :5].sum(axis=1),
                                       bill[:, 1:].sum(axis=1), cap=5.0)
    f["N_ZERO_PAY"] = (paid == 0).sum(axis=1).astype(float)
    f["PAY_MEAN"] = paid.mean(axis=1)
    f["BILL_MEAN"] = bill.mean(axis=1)
    f["PAY_TO_LIMIT"] = paid.mean(axis=1) / limit
    f["N_ZERO_BILL"] = (bill <= 0).sum(axis=1).astype(float)

    if include_education:
        edu = df["EDUCATION"].to_numpy(dtype=float)
        # 1 graduate, 2 university, 3 high school, 4 other/undocumented (0, 4, 5, 6)
        f["EDUCATION"] = np.where(np.isin(edu, [1, 2, 3]), edu, 4.0)
    if include_protected:
        for c in PROTECTED:
            f[c] = df[c].to_numpy(dtype=float)
    return pd.DataFrame(f, index=df.index)


def feature_names(include_education: bool = False, include_protected: bool = False) -> list[str]:
    dummy = pd.DataFrame([{c: 1 for c in RAW_REQUIRED + PROTECTED + PROXY}])
    return list(build_features(dummy, include_education, include_protected).columns)


def features_from_row(row: Mapping, include_education: bool = False,
                      include_protected: bool = False) -> pd.DataFrame:
    """Features for one live application (dict-like of raw fields) as a 1-row frame.

    Only the needed fields are read, so extra keys (e.g. SEX, AGE) are ignored
    unless include_protected=True.
    """
    needed = RAW_REQUIRED + (PROXY if include_education else []) + (PROTECTED if include_protected else [])
    one = pd.DataFrame([{c: row[c] for c in needed}])
    return build_features(one, include_education, include_protected)
