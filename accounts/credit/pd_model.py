"""The credit PD model: dataset reading, training, the checksummed artifact, scoring, reasons.

The model is LightGBM (binary log-loss) over :mod:`accounts.credit.features`, with monotone
constraints in the delinquency features, stored in LightGBM's text format in the shared model
registry (:mod:`creditplatform.model_registry`, name ``credit-pd``): ``model.txt`` plus
``meta.json`` with the SHA-256 of the model bytes, the feature list, parameters, metrics, the
decision cut-offs and the SHA-256 of the training file. Loading re-hashes the exact bytes it
parses and refuses a mismatch; nothing is ever unpickled.

Protocol (docs/research/credit/RESULTS.md, kept exactly): the split is
``train_test_split(arange(n), test_size=0.2, stratify=DEFAULT, random_state=42)``; every
choice (rounds, cut-offs) is made by 5-fold stratified CV (seed 42) on the train part only;
the validation part is scored once. The registered model is then refit on the whole file with
the same rounds (``refit_full``), so the figure reported for validation is that of the model
fitted on the train part.

Adverse-action reasons: ``booster.predict(X, pred_contrib=True)`` (LightGBM's TreeSHAP) splits
the log-odds score into one contribution per feature plus the expected value; contributions are
summed per reason code (:data:`REASON_CODES`) and the codes pushing PD up the most are the
principal reasons (ECOA / Regulation B, 12 CFR 1002.9(b)(2): up to four specific reasons).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from accounts.credit.features import (
    MONOTONE,
    PROTECTED_COLUMNS,
    RAW_COLUMNS,
    feature_matrix,
    feature_names,
)
from creditplatform import model_registry

MODEL_NAME = "credit-pd"
DEFAULT_REGISTRY = Path(__file__).resolve().parent.parent / "artifacts"
TARGET = "DEFAULT"
SEED = 42
#: Hyper-parameters: the best of 6 settings by 5-fold CV on the train part only
#: (docs/research/credit/explore_v2.py, explore_v2_results.json: CV AUC 0.7896 against 0.7888
#: for the research's setting); rounds come from CV early stopping at training time.
PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.01, "num_leaves": 31, "min_data_in_leaf": 300,
    "feature_fraction": 0.4, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
    "seed": SEED, "deterministic": True, "force_row_wise": True, "num_threads": 2,
    "verbose": -1, "monotone_constraints_method": "intermediate",
}
#: Cut-off rules (research, policy.py), applied to out-of-fold PDs of the train part:
#: approve below ``a`` = the largest PD keeping the default rate among approved <= 10 %;
#: decline from ``b`` = the smallest cut above ``a`` whose band defaults >= 50 %.
APPROVED_BAD_RATE_MAX = 0.10
DECLINE_BAND_BAD_RATE_MIN = 0.50
MIN_REASON_LOGODDS = 0.01  # contributions below this are not a "principal" reason
MAX_REASONS = 4            # Regulation B: "no more than four" principal reasons suffice

# code -> (text for the applicant, features that feed it). The wording follows the sample
# reasons of Regulation B's model form C-1 where one fits.
REASON_CODES: dict[str, tuple[str, list[str]]] = {
    "R01": ("Delinquent past or present credit obligations (most recent month)", ["DELAY_1"]),
    "R02": ("Delinquent credit obligations in the past six months",
            ["DELAY_2", "DELAY_3", "DELAY_4", "DELAY_5", "DELAY_6", "N_DELAYED", "MAX_DELAY",
             "MONTHS_SINCE_DELAY"]),
    "R03": ("Proportion of balances to credit limits is too high",
            ["UTIL_1", "UTIL_2", "UTIL_3", "UTIL_4", "UTIL_5", "UTIL_6", "UTIL_MEAN",
             "UTIL_MAX", "HEADROOM"]),
    "R04": ("Balances rising relative to credit limit", ["UTIL_TREND", "UTIL_TREND3"]),
    "R05": ("Payments low relative to amounts billed",
            ["PAY_RATIO_1", "PAY_RATIO_2", "PAY_RATIO_3", "PAY_RATIO_4", "PAY_RATIO_5",
             "PAY_RATIO_TOTAL", "UNPAID_1", "UNPAID_MEAN", "N_UNDERPAID"]),
    "R06": ("Amount of recent payments too low or payments missed",
            ["PAY_AMT1", "PAY_AMT2", "PAY_AMT3", "PAY_AMT4", "PAY_AMT5", "PAY_AMT6",
             "PAY_MEAN", "PAY_TO_LIMIT", "N_ZERO_PAY"]),
    "R07": ("Level of outstanding balances",
            ["BILL_AMT1", "BILL_AMT2", "BILL_AMT3", "BILL_AMT4", "BILL_AMT5", "BILL_AMT6",
             "BILL_MEAN"]),
    "R08": ("Limited established credit capacity", ["LIMIT_BAL"]),
    "R09": ("Balances revolved rather than paid in full", ["DULY_1", "DULY_2", "DULY_3",
                                                           "N_DULY"]),
    "R10": ("Insufficient recent credit activity",
            ["NOUSE_1", "NOUSE_2", "NOUSE_3", "N_NOUSE", "N_ZERO_BILL"]),
}
FEATURE_TO_CODE = {f: code for code, (_, feats) in REASON_CODES.items() for f in feats}


class DataError(ValueError):
    """An input file cannot be used; the message says why."""


@dataclass(frozen=True)
class Dataset:
    """Rows of a CSV in the dataset's format: ``columns`` raw model inputs (float arrays),
    ``ids`` the ID column (strings), ``target`` the DEFAULT labels or None, ``extra`` the other
    columns as read (AGE is used only by the age-of-majority rule), ``sha256`` of the file."""

    ids: list[str]
    columns: dict[str, np.ndarray]
    target: np.ndarray | None
    extra: dict[str, list[str]]
    sha256: str


def read_dataset(path: str | os.PathLike[str], *, labels: bool = False) -> Dataset:
    """Read a CSV in the credit-default layout (README of ../shared/data/credit-default).

    ``DEFAULT`` is read only with ``labels`` (otherwise ignored when present).

    Raises:
        DataError: a required column is missing or a value is not a number.
    """
    data = Path(path).read_bytes()
    text = data.decode("utf-8-sig").splitlines()
    reader = csv.DictReader(text)
    fields = reader.fieldnames or []
    need = ["ID", *RAW_COLUMNS] + ([TARGET] if labels else [])
    missing = [c for c in need if c not in fields]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    ids: list[str] = []
    raw: dict[str, list[float]] = {c: [] for c in RAW_COLUMNS}
    target: list[int] = []
    extra: dict[str, list[str]] = {c: [] for c in fields if c not in need}
    for lineno, row in enumerate(reader, start=2):
        try:
            for c in RAW_COLUMNS:
                raw[c].append(float(row[c]))
            if labels:
                target.append(int(row[TARGET]))
        except (TypeError, ValueError):
            raise DataError(f"{path}:{lineno}: a value is not a number") from None
        ids.append(row["ID"])
        for c in extra:
            extra[c].append(row.get(c) or "")
    if not ids:
        raise DataError(f"{path}: no rows")
    return Dataset(ids=ids, columns={c: np.asarray(v) for c, v in raw.items()},
                   target=np.asarray(target) if labels else None, extra=extra,
                   sha256=hashlib.sha256(data).hexdigest())


def split(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The research's split: (train indices, validation indices), stratified, seed 42."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(len(target)), test_size=0.2, stratify=target,
                            random_state=SEED)


def _lgb_params(names: list[str], **over: Any) -> dict[str, Any]:
    return {**PARAMS, "monotone_constraints": [MONOTONE.get(n, 0) for n in names], **over}


def cutoffs(pd_: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The approve/decline cut-offs ``(a, b)`` by the rules above, on out-of-fold PDs."""
    order = np.argsort(pd_, kind="stable")
    p, t = pd_[order], y[order]
    bad_rate = np.cumsum(t) / np.arange(1, len(t) + 1)
    grid = np.round(np.arange(0.05, 0.60, 0.005), 3)
    a = 0.05
    for c in grid:
        n = int(np.searchsorted(p, c, side="left"))
        if n and bad_rate[n - 1] <= APPROVED_BAD_RATE_MAX:
            a = float(c)
    b = float(grid[-1])
    for c in grid[grid > a]:
        band = pd_ >= c
        if band.any() and y[band].mean() >= DECLINE_BAND_BAD_RATE_MIN:
            b = float(c)
            break
    return a, b


def train(*, data: str | os.PathLike[str], registry: str | os.PathLike[str] = DEFAULT_REGISTRY,
          rows: int | None = None, refit_full: bool = True, max_rounds: int = 3000,
          overrides: Mapping[str, Any] | None = None,
          log: Callable[[str], None] = lambda _msg: None) -> tuple[Path, dict[str, Any]]:
    """Train, evaluate once on validation, register. Returns (artifact dir, meta).

    ``log`` receives a progress line per stage (each CV fold, the fits).

    ``rows`` keeps the first n rows (tests); ``overrides`` replaces hyper-parameters (e.g.
    ``min_data_in_leaf`` for small data). Metrics: ``cv5_train_auc`` (mean ± sd over the
    5 folds of the train part), ``val_auc``, ``val_brier``, ``val_logloss`` of the train-part
    model; ``rounds`` from CV early stopping (200 rounds of patience).
    """
    import lightgbm as lgb
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    ds = read_dataset(data, labels=True)
    cols, y = ds.columns, ds.target
    assert y is not None
    if rows is not None:
        cols, y = {c: v[:rows] for c, v in cols.items()}, y[:rows]
    names = feature_names()
    assert not set(names) & set(PROTECTED_COLUMNS + ["EDUCATION"])
    X = feature_matrix(cols)
    tr, va = split(y)
    params = _lgb_params(names, **dict(overrides or {}))
    skf = StratifiedKFold(5, shuffle=True, random_state=SEED)
    oof = np.zeros(len(tr))
    fold_auc, fold_rounds = [], []
    log(f"features: {X.shape[0]:,} rows x {X.shape[1]}; train {len(tr):,}, validation "
        f"{len(va):,}")
    for fold, (a_idx, b_idx) in enumerate(skf.split(X[tr], y[tr]), start=1):
        dtr = lgb.Dataset(X[tr][a_idx], y[tr][a_idx], feature_name=names)
        dva = lgb.Dataset(X[tr][b_idx], y[tr][b_idx], reference=dtr)
        bst = lgb.train(params, dtr, num_boost_round=max_rounds, valid_sets=[dva],
                        callbacks=[lgb.early_stopping(200, verbose=False)])
        oof[b_idx] = bst.predict(X[tr][b_idx], num_iteration=bst.best_iteration)
        fold_auc.append(float(roc_auc_score(y[tr][b_idx], oof[b_idx])))
        fold_rounds.append(int(bst.best_iteration))
        log(f"  CV fold {fold}/5: AUC {fold_auc[-1]:.4f}, {fold_rounds[-1]} rounds")
    rounds = max(1, int(np.median(fold_rounds)))
    cut_a, cut_b = cutoffs(oof, y[tr])
    log(f"fit on the train part: {rounds} rounds")
    model = lgb.train(params, lgb.Dataset(X[tr], y[tr], feature_name=names),
                      num_boost_round=rounds)
    pv = model.predict(X[va])
    metrics = {
        "cv5_train_auc": round(float(np.mean(fold_auc)), 4),
        "cv5_train_auc_sd": round(float(np.std(fold_auc)), 4),
        "val_auc": round(float(roc_auc_score(y[va], pv)), 4),
        "val_brier": round(float(brier_score_loss(y[va], pv)), 4),
        "val_logloss": round(float(log_loss(y[va], pv)), 4),
        "n_train": int(len(tr)), "n_val": int(len(va)),
        "val_default_rate": round(float(y[va].mean()), 4),
    }
    if refit_full:
        log("refit on all rows for the registered model")
        model = lgb.train(params, lgb.Dataset(X, y, feature_name=names),
                          num_boost_round=rounds)
    meta = {
        "features": names, "monotone": MONOTONE, "params": params, "rounds": rounds,
        "metrics": metrics, "cutoffs": {"approve_below": cut_a, "decline_from": cut_b},
        "fitted_on": "train+validation (refit with CV rounds)" if refit_full else "train part",
        "split": "train_test_split(arange(n), test_size=0.2, stratify=DEFAULT, "
                 "random_state=42); choices by StratifiedKFold(5, shuffle, 42) on train part",
        "excluded_inputs": PROTECTED_COLUMNS + ["EDUCATION"],
        "data_sha256": ds.sha256, "data_rows": int(len(y)),
        "reason_codes": {k: v[0] for k, v in REASON_CODES.items()},
    }
    path = model_registry.register(root=registry, name=MODEL_NAME,
                                   model_text=model.model_to_string(), meta=meta)
    return path, model_registry.load_meta(root=registry, name=MODEL_NAME,
                                          version=path.name)[1]


@lru_cache(maxsize=8)
def _load_cached(root: str, version: str | None) -> model_registry.Artifact:
    art = model_registry.load(root=root, name=MODEL_NAME, version=version)
    names = art.model.feature_name()
    if names != art.meta.get("features") or names != feature_names():
        raise model_registry.ArtifactIntegrityError(
            f"{art.path}: features differ from the code's feature list")
    if set(names) & set(PROTECTED_COLUMNS + ["EDUCATION"]):
        raise model_registry.ArtifactIntegrityError(f"{art.path}: a protected input")
    return art


def load(*, registry: str | os.PathLike[str] | None = None,
         version: str | None = None) -> model_registry.Artifact:
    """The verified artifact (latest version unless named), cached per (registry, version).

    Raises:
        model_registry.ArtifactIntegrityError: checksum mismatch, a world-writable file, or a
            feature list that differs from the code's.
        model_registry.RegistryError: no such version.
    """
    root = str(Path(registry or DEFAULT_REGISTRY).resolve())
    if version is None:
        found = model_registry.versions(root=root, name=MODEL_NAME)
        if not found:
            raise model_registry.RegistryError(f"no {MODEL_NAME} model under {root}")
        version = found[-1]
    return _load_cached(root, version)


def score(art: model_registry.Artifact, columns: Mapping[str, Any]) -> np.ndarray:
    """PD for each row of ``columns`` (raw inputs, :data:`RAW_COLUMNS`)."""
    return np.asarray(art.model.predict(feature_matrix(columns)), dtype=float)


def reasons(art: model_registry.Artifact, columns: Mapping[str, Any],
            top_k: int = MAX_REASONS) -> list[list[dict[str, Any]]]:
    """Principal reasons per row: up to ``top_k`` codes whose summed TreeSHAP log-odds
    contribution is positive and >= :data:`MIN_REASON_LOGODDS`, largest first, each
    ``{code, text, contribution, drivers}``."""
    names = art.model.feature_name()
    contrib = np.asarray(art.model.predict(feature_matrix(columns), pred_contrib=True))
    out: list[list[dict[str, Any]]] = []
    for row in contrib:
        per_code: dict[str, float] = {}
        drivers: dict[str, list[tuple[float, str]]] = {}
        for name, value in zip(names, row[:-1], strict=True):
            code = FEATURE_TO_CODE[name]
            per_code[code] = per_code.get(code, 0.0) + float(value)
            drivers.setdefault(code, []).append((float(value), name))
        ranked = sorted(((v, c) for c, v in per_code.items() if v >= MIN_REASON_LOGODDS),
                        reverse=True)[:top_k]
        out.append([{"code": c, "text": REASON_CODES[c][0],
                     "contribution": round(v, 4),
                     "drivers": [n for val, n in sorted(drivers[c], reverse=True) if val > 0][:3]}
                    for v, c in ranked])
    return out
