"""Fourth round (issue 10): blends with a second model family, CatBoost, new features.

Every figure comes from repeated stratified CV (3 repeats x 5 folds, seed 42) on the 19,200-row
train part of the usual split (``pd_model.split``); the validation part is not read here.

* The LightGBM model is the production one (``pd_model.PARAMS``, 55 features) with a fixed
  number of rounds (525, the artifact's CV-chosen figure) and ``num_threads=1``: no early
  stopping on the scored fold, so the baseline and every blend see the same honest margins.
* Second family, additive with exact per-feature contributions: logistic regression on
  per-feature bases of the same 55 inputs, either one-hot quantile bins (a scorecard, NaN its
  own bin) or cubic splines over the quantile-transformed value (NaN imputed + indicator).
* Blend in log-odds: ``m = w * gbm_margin + (1 - w) * other_margin``. ``w`` is chosen out of
  fold: for fold k of repeat r, the ``w`` on a 0.05 grid with the best mean AUC over the other
  four folds of repeat r; fold k's labels never choose its own weight.
* CatBoost (depth 6, lr 0.03, 1,000 iterations, 1 thread) alone and blended the same way.
* New features (not in explore_v3): paid-in-full flags, delay worsening, over-limit months.

Adoption rule (the brief): a candidate must beat the baseline's repeated-CV mean on the same
folds by >= 0.002. Run from /work/main (CatBoost needs ``PYTHONPATH=<dir with catboost and
pandas>``; otherwise pass ``--no-catboost``):

    .venv/bin/python docs/research/credit/explore_v4.py            # full run, writes the JSON
    .venv/bin/python docs/research/credit/explore_v4.py --tiny     # 1,500 rows, smoke test
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)

sys.path.insert(0, ".")
from accounts.credit import pd_model  # noqa: E402
from accounts.credit.features import MONOTONE, build_features, feature_names  # noqa: E402

DATA = "/work/shared/data/credit-default/train.csv"
OUT = Path("docs/research/credit/explore_v4_results.json")
GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def load(rows: int | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Raw columns and labels of the train part (the first ``rows`` file rows for --tiny)."""
    ds = pd_model.read_dataset(DATA, labels=True)
    cols, y = ds.columns, ds.target
    assert y is not None
    if rows:
        cols, y = {c: v[:rows] for c, v in cols.items()}, y[:rows]
    tr, _va = pd_model.split(y)
    return {c: v[tr] for c, v in cols.items()}, y[tr]


def extra_features(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Candidate features not tried before (row-wise, nothing fitted)."""
    limit = cols["LIMIT_BAL"]
    pay = np.column_stack([cols[c] for c in ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5",
                                                "PAY_6"]])
    bill = np.column_stack([cols[f"BILL_AMT{k}"] for k in range(1, 7)])
    paid = np.column_stack([cols[f"PAY_AMT{k}"] for k in range(1, 7)])
    delay = np.maximum(pay, 0)
    full = (paid[:, :5] >= bill[:, 1:]) & (bill[:, 1:] > 0)
    return {
        "PAID_FULL_1": full[:, 0].astype(float),
        "N_PAID_FULL": full.sum(axis=1).astype(float),
        "DELAY_CHANGE": delay[:, 0] - delay[:, 1],
        "N_WORSEN": (np.diff(delay[:, ::-1], axis=1) > 0).sum(axis=1).astype(float),
        "N_OVERLIMIT": (bill > limit[:, None]).sum(axis=1).astype(float),
        "MIN_PAY_GAP": np.min(bill[:, 1:] - paid[:, :5], axis=1) / limit,
    }


def gbm_margins(X: np.ndarray, y: np.ndarray, names: list[str], folds: list, rounds: int,
                mono: dict[str, int], **over: float) -> list[np.ndarray]:
    """Held-out LightGBM log-odds margins per fold (production parameters, 1 thread)."""
    params = {**pd_model.PARAMS, "num_threads": 1, **over,
              "monotone_constraints": [mono.get(n, 0) for n in names]}
    out = []
    for a, b in folds:
        bst = lgb.train(params, lgb.Dataset(X[a], y[a], feature_name=names),
                        num_boost_round=rounds)
        out.append(bst.predict(X[b], raw_score=True))
    return out


def catboost_margins(X: np.ndarray, y: np.ndarray, folds: list, iterations: int,
                     mono: list[int]) -> list[np.ndarray]:
    """Held-out CatBoost log-odds margins per fold."""
    from catboost import CatBoostClassifier

    out = []
    for a, b in folds:
        m = CatBoostClassifier(iterations=iterations, learning_rate=0.03, depth=6,
                               l2_leaf_reg=3, random_seed=42, thread_count=1, verbose=0,
                               monotone_constraints=mono, allow_writing_files=False)
        m.fit(X[a], y[a])
        out.append(m.predict(X[b], prediction_type="RawFormulaVal"))
    return out


class Binned:
    """Per-feature quantile bins (up to ``n_bins``; NaN is its own bin) -> bin index matrix."""

    def __init__(self, n_bins: int = 10) -> None:
        self.n_bins = n_bins

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Binned:
        q = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.edges_ = [np.unique(np.nanquantile(x, q)) if np.isfinite(x).any() else
                       np.array([]) for x in X.T]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        cols = []
        for x, e in zip(X.T, self.edges_, strict=True):
            idx = np.searchsorted(e, x, side="right").astype(float)
            idx[np.isnan(x)] = len(e) + 1
            cols.append(idx)
        return np.column_stack(cols)

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def get_params(self, deep: bool = True) -> dict[str, int]:
        return {"n_bins": self.n_bins}


def lr_model(kind: str, C: float):
    """An additive logistic regression over per-feature bases of the 55 inputs."""
    lr = LogisticRegression(C=C, max_iter=3000)
    if kind == "bins":
        return make_pipeline(Binned(10), OneHotEncoder(handle_unknown="ignore"), lr)
    return make_pipeline(QuantileTransformer(n_quantiles=200, output_distribution="uniform"),
                         SimpleImputer(strategy="median", add_indicator=True),
                         SplineTransformer(n_knots=6, degree=3), StandardScaler(), lr)


def lr_margins(X: np.ndarray, y: np.ndarray, folds: list, kind: str, C: float) -> list[np.ndarray]:
    out = []
    for a, b in folds:
        m = lr_model(kind, C).fit(X[a], y[a])
        out.append(m.decision_function(X[b]))
    return out


def fold_aucs(y: np.ndarray, folds: list, margins: list[np.ndarray]) -> np.ndarray:
    return np.array([roc_auc_score(y[b], m) for (_a, b), m in zip(folds, margins, strict=True)])


def blend(y: np.ndarray, folds: list, g: list[np.ndarray], o: list[np.ndarray],
          n_splits: int) -> dict:
    """Out-of-fold blend weight per fold, the resulting fold AUCs, and the fixed-w curve."""
    table = np.array([[roc_auc_score(y[b], w * gm + (1 - w) * om) for w in GRID]
                      for (_a, b), gm, om in zip(folds, g, o, strict=True)])  # folds x grid
    chosen, aucs = [], []
    for k in range(len(folds)):
        r = k // n_splits
        others = [j for j in range(r * n_splits, (r + 1) * n_splits) if j != k]
        w_idx = int(np.argmax(table[others].mean(axis=0)))
        chosen.append(float(GRID[w_idx]))
        aucs.append(table[k, w_idx])
    return {"fold_auc": np.array(aucs), "w_chosen": chosen,
            "curve": {f"{w:.2f}": round(float(v), 5) for w, v in zip(GRID, table.mean(axis=0),
                                                                      strict=True)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="1,500 rows, 2x2 folds, 50 rounds")
    ap.add_argument("--no-catboost", action="store_true")
    args = ap.parse_args()
    rows, n_splits, n_rep, rounds, cb_iter = ((1500, 2, 2, 50, 50) if args.tiny else
                                              (None, 5, 3, 525, 1000))
    over = {"min_data_in_leaf": 20} if args.tiny else {}
    cols, y = load(rows)
    feats = build_features(cols)
    names = feature_names()
    X = np.column_stack([feats[n] for n in names])
    folds = list(RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_rep,
                                         random_state=42).split(X, y))
    results: dict[str, dict] = {}

    def record(name: str, aucs: np.ndarray, secs: float, **more) -> None:
        base = results.get("gbm_baseline")
        results[name] = {"cv_auc": round(float(aucs.mean()), 5),
                         "sd": round(float(aucs.std()), 5), "secs": round(secs),
                         **({"diff_vs_baseline": round(float(aucs.mean()) - base["cv_auc"], 5)}
                            if base else {}), **more}
        print(name, json.dumps(results[name]), flush=True)

    t = time.time()
    g = gbm_margins(X, y, names, folds, rounds, MONOTONE, **over)
    record("gbm_baseline", fold_aucs(y, folds, g), time.time() - t,
           note=f"production params, {rounds} rounds fixed, 1 thread")

    for kind, C in [("bins", 0.01), ("bins", 0.1), ("spline", 0.01), ("spline", 0.1)]:
        t = time.time()
        o = lr_margins(X, y, folds, kind, C)
        secs = time.time() - t
        record(f"lr_{kind}_C{C}", fold_aucs(y, folds, o), secs)
        b = blend(y, folds, g, o, n_splits)
        record(f"blend_gbm+lr_{kind}_C{C}", b["fold_auc"], time.time() - t,
               w_chosen=b["w_chosen"], fixed_w_curve=b["curve"])

    t = time.time()
    ext = {**feats, **extra_features(cols)}
    names_x = list(ext)
    Xx = np.column_stack([ext[n] for n in names_x])
    gx = gbm_margins(Xx, y, names_x, folds, rounds, {**MONOTONE, "N_WORSEN": 1},
                     **over)
    record("gbm_v4_features", fold_aucs(y, folds, gx), time.time() - t,
           added=names_x[len(names):])

    if not args.no_catboost:
        t = time.time()
        c = catboost_margins(X, y, folds, cb_iter, [MONOTONE.get(n, 0) for n in names])
        record("catboost", fold_aucs(y, folds, c), time.time() - t)
        b = blend(y, folds, g, c, n_splits)
        record("blend_gbm+catboost", b["fold_auc"], time.time() - t,
               w_chosen=b["w_chosen"], fixed_w_curve=b["curve"])
    if not args.tiny:
        OUT.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
