"""Third round: extra candidate features and stronger regularisation, chosen by 5-fold CV on the
train part only (same protocol as explore_v2.py). Run from /work/main."""
from __future__ import annotations

import csv
import json
import sys
import time

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

sys.path.insert(0, ".")
from accounts.credit.features import MONOTONE, RAW_COLUMNS, build_features  # noqa: E402

DATA = "/work/shared/data/credit-default/train.csv"
with open(DATA, newline="") as fh:
    rows = list(csv.DictReader(fh))
cols = {c: np.array([float(r[c]) for r in rows]) for c in RAW_COLUMNS}
y = np.array([int(r["DEFAULT"]) for r in rows])
tr, va = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=42)
feats = build_features(cols)
limit = cols["LIMIT_BAL"]
pay = np.column_stack([cols[c] for c in ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]])
bill = np.column_stack([cols[f"BILL_AMT{k}"] for k in range(1, 7)])
paid = np.column_stack([cols[f"PAY_AMT{k}"] for k in range(1, 7)])
extra = {}
for k in range(3, 6):
    extra[f"NOUSE_{k + 1}"] = (pay[:, k] == -2).astype(float)
    extra[f"DULY_{k + 1}"] = (pay[:, k] == -1).astype(float)
spend = bill[:, :5] - bill[:, 1:] + paid[:, :5]
for k in range(3):
    extra[f"SPEND_{k + 1}"] = spend[:, k] / limit
extra["SPEND_MEAN"] = spend.mean(axis=1) / limit
w = np.array([6, 5, 4, 3, 2, 1], dtype=float)
extra["DELAY_WEIGHTED"] = (np.maximum(pay, 0) * w).sum(axis=1) / w.sum()
extra["N_REVOLVE"] = (pay == 0).sum(axis=1).astype(float)
extra["PAY_STD"] = paid.std(axis=1) / limit
extra["BILL_STD"] = bill.std(axis=1) / limit
feats3 = {**feats, **extra}
BASE = {"objective": "binary", "learning_rate": 0.01, "num_leaves": 31, "min_data_in_leaf": 300,
        "feature_fraction": 0.4, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
        "seed": 42, "deterministic": True, "num_threads": 2, "verbose": -1,
        "monotone_constraints_method": "intermediate"}
MONO3 = {**MONOTONE, "DELAY_WEIGHTED": 1}


def cv(F, names, params):
    X = np.column_stack([F[n] for n in names])[tr]
    yt = y[tr]
    mono = [MONO3.get(n, 0) for n in names]
    skf = StratifiedKFold(5, shuffle=True, random_state=42)
    aucs, rounds = [], []
    for a, b in skf.split(X, yt):
        p = {**params, "monotone_constraints": mono}
        dtr = lgb.Dataset(X[a], yt[a], feature_name=names)
        dva = lgb.Dataset(X[b], yt[b], reference=dtr)
        bst = lgb.train(p, dtr, num_boost_round=6000, valid_sets=[dva],
                        callbacks=[lgb.early_stopping(200, verbose=False)])
        aucs.append(roc_auc_score(yt[b], bst.predict(X[b], num_iteration=bst.best_iteration)))
        rounds.append(bst.best_iteration)
    return float(np.mean(aucs)), float(np.std(aucs)), int(np.median(rounds))


configs = [
    ("v3_all_feats", feats3, list(feats3), BASE),
    ("v2_l31_md400_ff03", feats, list(feats), {**BASE, "min_data_in_leaf": 400,
                                                "feature_fraction": 0.3}),
    ("v2_l63_md300_ff04_ps", feats, list(feats), {**BASE, "num_leaves": 63,
                                                   "path_smooth": 50.0}),
    ("v2_l31_md300_ff04_l1", feats, list(feats), {**BASE, "lambda_l1": 5.0,
                                                   "min_gain_to_split": 0.5}),
    ("v2_l31_md300_ff04_lr005", feats, list(feats), {**BASE, "learning_rate": 0.005}),
]
results = {}
for name, F, names, params in configs:
    t = time.time()
    m, s, r = cv(F, names, params)
    results[name] = {"cv_auc": m, "sd": s, "rounds": r, "secs": round(time.time() - t)}
    print(name, json.dumps(results[name]), flush=True)
json.dump(results, open("docs/research/credit/explore_v3_results.json", "w"), indent=1)
