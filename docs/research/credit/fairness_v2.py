"""Validation metrics by group for the registered credit-pd model's settings (report only; no
choice is made on these numbers). Refits the train-part model with the artifact's parameters
and rounds (the registered model is refit on all rows, so it cannot be evaluated on validation),
applies the artifact's cut-offs and writes a markdown table. Run from /work/main:
    .venv/bin/python docs/research/credit/fairness_v2.py > docs/research/credit/fairness_v2.md
"""
from __future__ import annotations

import csv
import sys

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, ".")
from accounts.credit import pd_model  # noqa: E402
from accounts.credit.features import feature_matrix  # noqa: E402

DATA = "/work/shared/data/credit-default/train.csv"
art = pd_model.load()
meta = art.meta
ds = pd_model.read_dataset(DATA, labels=True)
y = ds.target
tr, va = pd_model.split(y)
X = feature_matrix(ds.columns)
model = lgb.train(meta["params"], lgb.Dataset(X[tr], y[tr], feature_name=meta["features"]),
                  num_boost_round=meta["rounds"])
p = model.predict(X[va])
a, b = meta["cutoffs"]["approve_below"], meta["cutoffs"]["decline_from"]
with open(DATA, newline="") as fh:
    rows = list(csv.DictReader(fh))
sex = np.array([int(r["SEX"]) for r in rows])[va]
age = np.array([int(r["AGE"]) for r in rows])[va]
edu = np.array([int(r["EDUCATION"]) for r in rows])[va]
yv = y[va]
approved = p < a
print(f"model {art.version}; validation n={len(va)}; AUC {roc_auc_score(yv, p):.4f}; "
      f"cut-offs a={a} b={b}")
print(f"approve {approved.mean():.3f}, refer {((p >= a) & (p < b)).mean():.3f}, "
      f"decline {(p >= b).mean():.3f}; default rate among approved {yv[approved].mean():.3f} "
      f"(all {yv.mean():.3f}); decline band default rate {yv[p >= b].mean():.3f}\n")


def table(title, groups):
    print(f"| {title} | n | default_rate | mean_pd | auc | approval_rate | ratio_vs_max | "
          "fpr (good not approved) | bad_rate_approved |")
    print("|---|---|---|---|---|---|---|---|---|")
    rates = {g: approved[m].mean() for g, m in groups.items()}
    top = max(rates.values())
    for g, m in groups.items():
        good = m & (yv == 0)
        auc = roc_auc_score(yv[m], p[m]) if 0 < yv[m].mean() < 1 else float("nan")
        print(f"| {g} | {m.sum()} | {yv[m].mean():.3f} | {p[m].mean():.3f} | {auc:.3f} | "
              f"{rates[g]:.3f} | {rates[g] / top:.3f} | {(~approved[good]).mean():.3f} | "
              f"{yv[m & approved].mean():.3f} |")
    print()


table("SEX", {"1 male": sex == 1, "2 female": sex == 2})
table("age", {"<30": age < 30, "30-45": (age >= 30) & (age <= 45), ">45": age > 45})
table("EDUCATION", {"1 graduate": edu == 1, "2 university": edu == 2, "3 high school": edu == 3,
                    "other/undoc.": ~np.isin(edu, [1, 2, 3])})
