"""Features of the credit PD model: pure, row-wise functions of one applicant's own history.

Input layout is the UCI "default of credit card clients" one (``/work/shared/data/credit-default``):
``LIMIT_BAL``, ``PAY_0, PAY_2..PAY_6`` (repayment status, -2..8), ``BILL_AMT1..6`` and
``PAY_AMT1..6`` (amounts; k = 1 is the most recent month). Nothing is fitted on the training
data and no other row is read, so the batch path (training, ``credit_score_csv``) and the
single-application path (the decision service) are the same code.

Only :data:`RAW_COLUMNS` are ever read. ``SEX``, ``MARRIAGE``, ``AGE`` (protected) and
``EDUCATION`` (a proxy, dropped as the research chose, docs/research/credit/RESULTS.md) are not
in it, so no model input can depend on them: the invariance test in ``tests/credit`` proves it
on decisions.

Repayment status: -2 no consumption, -1 paid duly, 0 revolving / minimum paid, 1..8 months of
delay. -2/-1/0 are categories, not an ordinal scale (the dataset's README), so each status is
split into ``DELAY_k = max(PAY_k, 0)`` and flags ``NOUSE_k`` / ``DULY_k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

PAY_COLUMNS = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
BILL_COLUMNS = [f"BILL_AMT{k}" for k in range(1, 7)]
PAYAMT_COLUMNS = [f"PAY_AMT{k}" for k in range(1, 7)]
RAW_COLUMNS = ["LIMIT_BAL", *PAY_COLUMNS, *BILL_COLUMNS, *PAYAMT_COLUMNS]
#: Never read by :func:`build_features` (documented for tests and the CSV reader).
PROTECTED_COLUMNS = ["SEX", "MARRIAGE", "AGE"]
DROPPED_COLUMNS = ["EDUCATION"]

#: PD is constrained non-decreasing (+1) / non-increasing (-1) in these features (LightGBM
#: ``monotone_constraints``, method "intermediate"). Together they make PD non-decreasing in
#: every raw PAY_k over 0..8 with the rest fixed: no other feature depends on PAY_k >= 0.
MONOTONE: dict[str, int] = {
    **{f"DELAY_{k}": 1 for k in range(1, 7)},
    "MAX_DELAY": 1,
    "N_DELAYED": 1,
    "MONTHS_SINCE_DELAY": -1,
}


def _ratio(num: np.ndarray, den: np.ndarray, cap: float) -> np.ndarray:
    """``num / den`` where ``den > 0``, clipped to ``[-cap, cap]``; NaN (missing) elsewhere."""
    out = np.full(np.shape(num), np.nan)
    ok = den > 0
    out[ok] = np.clip(num[ok] / den[ok], -cap, cap)
    return out


def build_features(columns: Mapping[str, Sequence[float] | np.ndarray]) -> dict[str, np.ndarray]:
    """The feature table of ``n`` applicants: ``{feature name: float array (n,)}``, in
    :func:`feature_names` order. ``columns`` maps every name of :data:`RAW_COLUMNS` to ``n``
    numbers (NT$ amounts or status codes); other keys are ignored.

    Raises:
        KeyError: a raw column is missing.
        ValueError: ``LIMIT_BAL`` is not positive.
    """
    missing = [c for c in RAW_COLUMNS if c not in columns]
    if missing:
        raise KeyError(f"missing input columns: {missing}")
    limit = np.asarray(columns["LIMIT_BAL"], dtype=float)
    if np.any(~(limit > 0)):
        raise ValueError("LIMIT_BAL must be positive")
    pay = np.column_stack([np.asarray(columns[c], dtype=float) for c in PAY_COLUMNS])
    bill = np.column_stack([np.asarray(columns[c], dtype=float) for c in BILL_COLUMNS])
    paid = np.column_stack([np.asarray(columns[c], dtype=float) for c in PAYAMT_COLUMNS])
    delay = np.maximum(pay, 0.0)

    f: dict[str, np.ndarray] = {"LIMIT_BAL": limit}
    for k in range(6):
        f[f"DELAY_{k + 1}"] = delay[:, k]
    for k in range(3):
        f[f"NOUSE_{k + 1}"] = (pay[:, k] == -2).astype(float)
        f[f"DULY_{k + 1}"] = (pay[:, k] == -1).astype(float)
    f["N_DELAYED"] = (delay > 0).sum(axis=1).astype(float)
    f["MAX_DELAY"] = delay.max(axis=1)
    f["N_DULY"] = (pay == -1).sum(axis=1).astype(float)
    f["N_NOUSE"] = (pay == -2).sum(axis=1).astype(float)
    any_delay = delay > 0
    f["MONTHS_SINCE_DELAY"] = np.where(any_delay.any(axis=1), any_delay.argmax(axis=1) + 1,
                                       7).astype(float)
    for k in range(6):
        f[f"BILL_AMT{k + 1}"] = bill[:, k]
        f[f"PAY_AMT{k + 1}"] = paid[:, k]
    util = bill / limit[:, None]
    for k in range(6):
        f[f"UTIL_{k + 1}"] = util[:, k]
    f["UTIL_MEAN"] = util.mean(axis=1)
    f["UTIL_MAX"] = util.max(axis=1)
    f["UTIL_TREND"] = util[:, 0] - util[:, 5]
    f["UTIL_TREND3"] = util[:, 0] - util[:, 2]
    f["HEADROOM"] = limit - bill[:, 0]
    # the payment of month k pays the bill of the month before (k + 1)
    for k in range(5):
        f[f"PAY_RATIO_{k + 1}"] = _ratio(paid[:, k], bill[:, k + 1], cap=5.0)
    f["PAY_RATIO_TOTAL"] = _ratio(paid[:, :5].sum(axis=1), bill[:, 1:].sum(axis=1), cap=5.0)
    f["N_ZERO_PAY"] = (paid == 0).sum(axis=1).astype(float)
    f["PAY_MEAN"] = paid.mean(axis=1)
    f["BILL_MEAN"] = bill.mean(axis=1)
    f["PAY_TO_LIMIT"] = paid.mean(axis=1) / limit
    f["N_ZERO_BILL"] = (bill <= 0).sum(axis=1).astype(float)
    # unpaid carry-over: the prior bill minus this month's payment, relative to the limit
    unpaid = bill[:, 1:] - paid[:, :5]
    f["UNPAID_1"] = unpaid[:, 0] / limit
    f["UNPAID_MEAN"] = unpaid.mean(axis=1) / limit
    f["N_UNDERPAID"] = ((paid[:, :5] < 0.1 * np.maximum(bill[:, 1:], 0)) &
                        (bill[:, 1:] > 0)).sum(axis=1).astype(float)
    return f


def feature_names() -> list[str]:
    """The model's feature names, in order."""
    one = {c: [1.0] for c in RAW_COLUMNS}
    return list(build_features(one))


def feature_matrix(columns: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
    """``build_features`` as an ``(n, n_features)`` float matrix in :func:`feature_names` order."""
    feats = build_features(columns)
    return np.column_stack(list(feats.values()))


def feature_row(raw: Mapping[str, float]) -> np.ndarray:
    """The ``(1, n_features)`` matrix of one application given as ``{raw column: number}``."""
    return feature_matrix({c: [float(raw[c])] for c in RAW_COLUMNS})
