"""pandas adapter over the production features for the round-1 research scripts.

The features themselves live in ``accounts/credit/features.py`` (one copy, used by the
platform and by every research script). This module only keeps the round-1 interface that
``train.py`` and ``reasons.py`` call: DataFrames in and out, and the optional EDUCATION /
protected columns that exist solely for the comparison baselines of RESULTS.md. Since the
production module gained ``UNPAID_1``, ``UNPAID_MEAN`` and ``N_UNDERPAID`` (explore_v2), a rerun
of ``train.py`` uses 55 engineered features, not the 52 behind RESULTS.md's figures.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
from accounts.credit.features import MONOTONE as MONOTONE  # noqa: E402
from accounts.credit.features import PROTECTED_COLUMNS as PROTECTED  # noqa: E402
from accounts.credit.features import RAW_COLUMNS as RAW_REQUIRED  # noqa: E402
from accounts.credit.features import build_features as _build  # noqa: E402

PROXY = ["EDUCATION"]


def build_features(df: pd.DataFrame, include_education: bool = False,
                   include_protected: bool = False) -> pd.DataFrame:
    """Row-wise feature table of ``df`` (raw UCI columns), optionally with EDUCATION
    (1 graduate, 2 university, 3 high school, 4 other/undocumented) and SEX/MARRIAGE/AGE."""
    out = pd.DataFrame(_build({c: df[c].to_numpy(dtype=float) for c in RAW_REQUIRED}),
                       index=df.index)
    if include_education:
        edu = df["EDUCATION"].astype(float)
        out["EDUCATION"] = edu.where(edu.isin([1, 2, 3]), 4.0)
    if include_protected:
        for c in PROTECTED:
            out[c] = df[c].astype(float)
    return out


def feature_names(include_education: bool = False, include_protected: bool = False) -> list[str]:
    """The column names :func:`build_features` returns for these options."""
    dummy = pd.DataFrame([{c: 1 for c in RAW_REQUIRED + PROTECTED + PROXY}])
    return list(build_features(dummy, include_education, include_protected).columns)


def features_from_row(row: Mapping, include_education: bool = False,
                      include_protected: bool = False) -> pd.DataFrame:
    """Features of one application (a mapping of raw fields) as a 1-row frame."""
    needed = RAW_REQUIRED + (PROXY if include_education else []) + \
        (PROTECTED if include_protected else [])
    return build_features(pd.DataFrame([{c: row[c] for c in needed}]), include_education,
                          include_protected)
