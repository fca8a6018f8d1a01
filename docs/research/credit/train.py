"""Train and evaluate the PD model end to end (reproducible).

    cd /work/research/credit && .venv/bin/python train.py

Writes model.txt (LightGBM text format), model.json (features, params, metrics,
cut-offs, sha256), results.json (all experiments) and results_tables.md.
Uses 2 threads.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, brier_score_loss, log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split

import policy
from features import (MONOTONE, PROTECTED, RAW_REQUIRED, build_features,
                      features_from_row)
from reasons import REASON_CODES, check_mapping, mapping_table_markdown, reason_codes_from_contrib

HERE = Path(__file__).resolve().parent
DATA = Path("/work/shared/data/credit-default/train.csv")
SEED = 42
VAL_FRAC = 0.20
THREADS = 2
PARAMS = dict(objective="binary", metric="auc", learning_rate=0.03, num_leaves=15,
              min_data_in_leaf=100, feature_fraction=0.7, bagging_fraction=0.8,
              bagging_freq=1, lambda_l2=5.0, num_threads=THREADS, seed=SEED,
              deterministic=True, force_col_wise=True, verbose=-1)
MAX_ROUNDS = 3000
EARLY_STOP = 100
EDU_PREFERENCE_TOL = 0.005  # prefer the model without EDUCATION if it costs < this AUC
BAD_RATE_TARGET = 0.10      # approve band: default rate among approved <= 10 % (base ~22 %)
DECLINE_BAND_RATE = 0.50    # decline band: observed default rate among declined >= 50 %
AGE_BANDS = [(-np.inf, 30, "<30"), (30, 45.5, "30-45"), (45.5, np.inf, ">45")]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def raw_features(df, include_education, include_protected):
    cols = list(RAW_REQUIRED)
    if include_education:
        cols.append("EDUCATION")
    if include_protected:
        cols += PROTECTED
    return df[cols].astype(float)


def make_X(df, cfg):
    if cfg["features"] == "raw":
        return raw_features(df, cfg["edu"], cfg["prot"])
    return build_features(df, include_education=cfg["edu"], include_protected=cfg["prot"])


def params_for(X, cfg):
    p = dict(PARAMS)
    if cfg["mono"]:
        p["monotone_constraints"] = [MONOTONE.get(c, 0) for c in X.columns]
        p["monotone_constraints_method"] = "intermediate"
    return p


def cat_feats(X):
    return [c for c in ("EDUCATION", "MARRIAGE") if c in X.columns]


def fit_config(cfg, df_tr, y_tr, df_va, y_va, df_all, y_all):
    X_tr, X_va, X_all = make_X(df_tr, cfg), make_X(df_va, cfg), make_X(df_all, cfg)
    p = params_for(X_tr, cfg)
    cats = cat_feats(X_tr)
    # 1) number of rounds by 5-fold CV with early stopping on the TRAIN part only
    cv = lgb.cv(p, lgb.Dataset(X_tr, y_tr, categorical_feature=cats, free_raw_data=False),
                num_boost_round=MAX_ROUNDS, nfold=5, stratified=True, seed=SEED,
                callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
    n_rounds = len(cv["valid auc-mean"])
    # 2) fit on the train part, score the untouched validation part
    booster = lgb.train(p, lgb.Dataset(X_tr, y_tr, categorical_feature=cats), num_boost_round=n_rounds)
    p_va = booster.predict(X_va)
    # 3) 5-fold CV on all 24,000 rows with the rounds fixed
    skf = StratifiedKFold(5, shuffle=True, random_state=SEED)
    fold_auc = []
    for tr_i, te_i in skf.split(X_all, y_all):
        b = lgb.train(p, lgb.Dataset(X_all.iloc[tr_i], y_all[tr_i], categorical_feature=cats),
                      num_boost_round=n_rounds)
        fold_auc.append(roc_auc_score(y_all[te_i], b.predict(X_all.iloc[te_i])))
    res = dict(n_features=X_tr.shape[1], n_rounds=n_rounds,
               cv_train_part_auc=float(cv["valid auc-mean"][-1]),
               val_auc=float(roc_auc_score(y_va, p_va)),
               val_logloss=float(log_loss(y_va, p_va)),
               val_brier=float(brier_score_loss(y_va, p_va)),
               cv5_full_auc_mean=float(np.mean(fold_auc)),
               cv5_full_auc_sd=float(np.std(fold_auc)),
               cv5_full_fold_auc=[float(a) for a in fold_auc])
    return booster, p_va, res, p


def group_table(y, pdv, approve, groups):
    rows = []
    for g in pd.unique(groups):
        m = groups == g
        yy, pp, aa = y[m], pdv[m], approve[m]
        good = yy == 0
        rows.append(dict(group=str(g), n=int(m.sum()), default_rate=float(yy.mean()),
                         mean_pd=float(pp.mean()),
                         auc=float(roc_auc_score(yy, pp)) if 0 < yy.sum() < len(yy) else float("nan"),
                         approval_rate=float(aa.mean()),
                         # positive = "predicted default" = not approved
                         fpr=float((~aa[good]).mean()),          # good payers not approved
                         tpr=float((~aa[~good]).mean()),         # defaulters caught
                         bad_rate_approved=float(yy[aa].mean()) if aa.any() else float("nan")))
    rows.sort(key=lambda r: r["group"])
    top = max(r["approval_rate"] for r in rows)
    for r in rows:
        r["approval_ratio_vs_max"] = r["approval_rate"] / top
    return rows


def age_band(age):
    out = np.empty(len(age), dtype=object)
    for lo, hi, name in AGE_BANDS:
        out[(age >= lo) & (age < hi)] = name
    return out


def choose_cutoffs(y, pdv):
    grid = np.round(np.arange(0.02, 0.96, 0.005), 3)
    a = None
    for t in grid:
        appr = pdv < t
        if appr.sum() >= 50 and y[appr].mean() <= BAD_RATE_TARGET:
            a = float(t)
    b = None
    for t in grid:
        if t <= a:
            continue
        dec = pdv >= t
        if dec.sum() >= 50 and y[dec].mean() >= DECLINE_BAND_RATE:
            b = float(t)
            break
    return a, b


def band_table(y, pdv, limit_bal, a, b):
    dec = np.array([policy.decide(p, a, b) for p in pdv])
    lim = np.array([policy.credit_limit(p, l, a, b) for p, l in zip(pdv, limit_bal)])
    rows = []
    for d in ["APPROVE", "REFER", "DECLINE"]:
        m = dec == d
        rows.append(dict(decision=d, n=int(m.sum()), share=float(m.mean()),
                         default_rate=float(y[m].mean()) if m.any() else float("nan"),
                         mean_pd=float(pdv[m].mean()) if m.any() else float("nan"),
                         mean_old_limit=float(limit_bal[m].mean()) if m.any() else float("nan"),
                         mean_new_limit=float(lim[m].mean()) if m.any() else float("nan"),
                         expected_loss_total=float((pdv[m] * policy.LGD * lim[m]).sum())))
    return rows, dec, lim


def md_table(rows, cols, fmt=None):
    fmt = fmt or {}
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append(fmt.get(c, "{:.4f}").format(v))
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    t0 = time.time()
    df = pd.read_csv(DATA)
    y = df["DEFAULT"].to_numpy()
    idx_tr, idx_va = train_test_split(np.arange(len(df)), test_size=VAL_FRAC,
                                      stratify=y, random_state=SEED)
    idx_tr, idx_va = np.sort(idx_tr), np.sort(idx_va)
    df_tr, df_va = df.iloc[idx_tr].reset_index(drop=True), df.iloc[idx_va].reset_index(drop=True)
    y_tr, y_va = y[idx_tr], y[idx_va]
    split = dict(method="sklearn train_test_split(test_size=0.2, stratify=DEFAULT, random_state=42)",
                 n_train=len(idx_tr), n_val=len(idx_va),
                 train_default_rate=float(y_tr.mean()), val_default_rate=float(y_va.mean()),
                 val_ids_sha256=hashlib.sha256(",".join(map(str, df_va["ID"])).encode()).hexdigest(),
                 val_id_first10=[int(i) for i in df_va["ID"][:10]])
    print("split", split, flush=True)

    configs = {
        "raw_all":                dict(features="raw", prot=True,  edu=True,  mono=False),
        "raw_noprot_edu":         dict(features="raw", prot=False, edu=True,  mono=False),
        "raw_noprot_noedu":       dict(features="raw", prot=False, edu=False, mono=False),
        "eng_all":                dict(features="eng", prot=True,  edu=True,  mono=False),
        "eng_noprot_edu":         dict(features="eng", prot=False, edu=True,  mono=False),
        "eng_noprot_noedu":       dict(features="eng", prot=False, edu=False, mono=False),
        "eng_noprot_edu_mono":    dict(features="eng", prot=False, edu=True,  mono=True),
        "eng_noprot_noedu_mono":  dict(features="eng", prot=False, edu=False, mono=True),
    }
    results, boosters, preds, params = {}, {}, {}, {}
    for name, cfg in configs.items():
        t = time.time()
        b, p_va, res, p = fit_config(cfg, df_tr, y_tr, df_va, y_va, df, y)
        res["config"] = cfg
        results[name], boosters[name], preds[name], params[name] = res, b, p_va, p
        print(f"{name:24s} nfeat={res['n_features']:3d} rounds={res['n_rounds']:4d} "
              f"cv_tr={res['cv_train_part_auc']:.4f} val={res['val_auc']:.4f} "
              f"cv5={res['cv5_full_auc_mean']:.4f}±{res['cv5_full_auc_sd']:.4f} ({time.time()-t:.0f}s)",
              flush=True)

    # ---- choose the production candidate (monotone, no protected attributes)
    with_edu, no_edu = results["eng_noprot_edu_mono"], results["eng_noprot_noedu_mono"]
    edu_cost = with_edu["val_auc"] - no_edu["val_auc"]
    chosen = "eng_noprot_noedu_mono" if edu_cost < EDU_PREFERENCE_TOL else "eng_noprot_edu_mono"
    booster, pv, cfg = boosters[chosen], preds[chosen], configs[chosen]
    names = booster.feature_name()
    check_mapping(names)
    assert not set(names) & set(PROTECTED), "protected attribute used as input"
    print("chosen", chosen, "edu_cost", round(edu_cost, 4), flush=True)

    model_path = HERE / "model.txt"
    booster.save_model(str(model_path))
    reloaded = lgb.Booster(model_file=str(model_path))
    X_va = make_X(df_va, cfg)[names]
    assert np.array_equal(reloaded.predict(X_va), pv), "text model does not reproduce predictions"

    # ---- tests: single-row path == batch path; protected attributes do not move PD
    tests = {}
    rows = df_va.to_dict("records")
    single = np.array([reloaded.predict(features_from_row(r, cfg["edu"])[names])[0] for r in rows[:300]])
    tests["single_row_equals_batch_max_abs_diff"] = float(np.max(np.abs(single - pv[:300])))
    rng = np.random.default_rng(SEED)
    diffs = []
    for r in rows[:300]:
        base = reloaded.predict(features_from_row(r, cfg["edu"])[names])[0]
        for _ in range(5):
            r2 = dict(r, SEX=int(rng.choice([1, 2])), MARRIAGE=int(rng.choice([0, 1, 2, 3])),
                      AGE=int(rng.integers(21, 80)))
            diffs.append(abs(reloaded.predict(features_from_row(r2, cfg["edu"])[names])[0] - base))
    tests["protected_perturbation_single_row_max_abs_diff"] = float(np.max(diffs))
    df_sw = df_va.copy()
    df_sw["SEX"] = 3 - df_sw["SEX"]
    df_sw["MARRIAGE"] = df_sw["MARRIAGE"].sample(frac=1, random_state=1).to_numpy()
    df_sw["AGE"] = df_sw["AGE"].sample(frac=1, random_state=2).to_numpy()
    tests["protected_swap_batch_max_abs_diff"] = float(np.max(np.abs(
        reloaded.predict(make_X(df_sw, cfg)[names]) - pv)))
    # contrast: the model that DOES use protected attributes reacts to the same swap
    b_all, c_all = boosters["eng_all"], configs["eng_all"]
    tests["contrast_eng_all_swap_max_abs_diff"] = float(np.max(np.abs(
        b_all.predict(make_X(df_sw, c_all)) - preds["eng_all"])))
    tests["contrast_eng_all_swap_mean_abs_diff"] = float(np.mean(np.abs(
        b_all.predict(make_X(df_sw, c_all)) - preds["eng_all"])))
    # monotonicity of PD in raw PAY_0 and PAY_2 over 0..8 for every validation row
    viol = {}
    for col in ["PAY_0", "PAY_2", "PAY_4"]:
        curves = []
        for v in range(0, 9):
            d2 = df_va.copy()
            d2[col] = v
            curves.append(reloaded.predict(make_X(d2, cfg)[names]))
        curves = np.vstack(curves)
        viol[col] = float(np.max(np.maximum(0, -np.diff(curves, axis=0))))
    tests["monotone_raw_pay_max_decrease"] = viol
    # TreeSHAP additivity: sum of contributions = raw log-odds score
    contrib = reloaded.predict(X_va, pred_contrib=True)
    tests["treeshap_additivity_max_abs_err"] = float(np.max(np.abs(
        contrib.sum(axis=1) - reloaded.predict(X_va, raw_score=True))))
    print("tests", json.dumps(tests), flush=True)
    assert tests["single_row_equals_batch_max_abs_diff"] == 0.0
    assert tests["protected_perturbation_single_row_max_abs_diff"] == 0.0
    assert tests["protected_swap_batch_max_abs_diff"] == 0.0
    assert all(v <= 1e-12 for v in viol.values())
    assert tests["treeshap_additivity_max_abs_err"] < 1e-6

    # ---- calibration by decile
    dec = pd.qcut(pv, 10, labels=False, duplicates="drop")
    calib = [dict(decile=int(k), n=int((dec == k).sum()), mean_pd=float(pv[dec == k].mean()),
                  default_rate=float(y_va[dec == k].mean())) for k in range(int(dec.max()) + 1)]

    # ---- cut-offs and policy on validation
    a, b = choose_cutoffs(y_va, pv)
    bands, decisions, new_lim = band_table(y_va, pv, df_va["LIMIT_BAL"].to_numpy(float), a, b)
    approve = pv < a
    print("cutoffs", a, b, flush=True)

    # ---- fairness on validation at the approve cut-off a (approved vs not)
    fair = {
        "SEX": group_table(y_va, pv, approve, df_va["SEX"].map({1: "1 male", 2: "2 female"}).to_numpy()),
        "AGE_BAND": group_table(y_va, pv, approve, age_band(df_va["AGE"].to_numpy())),
        "MARRIAGE": group_table(y_va, pv, approve, df_va["MARRIAGE"].map(
            {0: "0 undoc.", 1: "1 married", 2: "2 single", 3: "3 other"}).to_numpy()),
        "EDUCATION": group_table(y_va, pv, approve, df_va["EDUCATION"].map(
            {1: "1 graduate", 2: "2 university", 3: "3 high school"}).fillna("4 other/undoc.").to_numpy()),
    }
    fair_all = group_table(y_va, pv, approve, np.array(["all"] * len(pv)))
    # same fairness table for the model that uses protected attributes (contrast)
    a_all, _ = choose_cutoffs(y_va, preds["eng_all"])
    fair_contrast = {
        "SEX": group_table(y_va, preds["eng_all"], preds["eng_all"] < a_all,
                           df_va["SEX"].map({1: "1 male", 2: "2 female"}).to_numpy()),
        "AGE_BAND": group_table(y_va, preds["eng_all"], preds["eng_all"] < a_all,
                                age_band(df_va["AGE"].to_numpy())),
    }

    # ---- reason-code examples: highest-PD validation applicants and a declined median one
    order = np.argsort(-pv)
    examples = []
    declined_idx = np.where(decisions == "DECLINE")[0]
    picks = list(order[:2]) + ([int(declined_idx[np.argsort(pv[declined_idx])[len(declined_idx) // 2]])]
                               if len(declined_idx) else []) + [int(np.where(decisions == "REFER")[0][0])]
    for i in picks:
        examples.append(dict(ID=int(df_va["ID"][i]), pd=float(pv[i]), decision=str(decisions[i]),
                             actual_default=int(y_va[i]),
                             reasons=reason_codes_from_contrib(contrib[i], names, 4)))
    # how often each code is the #1 reason among declined / referred applicants
    top1 = {}
    for i in np.where(decisions != "APPROVE")[0]:
        r = reason_codes_from_contrib(contrib[i], names, 1)
        if r:
            top1[r[0]["code"]] = top1.get(r[0]["code"], 0) + 1

    # ---- feature importance (gain)
    gain = dict(zip(names, booster.feature_importance("gain")))
    top_gain = sorted(gain.items(), key=lambda t: -t[1])[:15]

    model_sha = sha256(model_path)
    meta = dict(
        model_file="model.txt", model_format="LightGBM text model",
        model_sha256=model_sha, lightgbm_version=lgb.__version__,
        config_name=chosen, config=cfg, features=names,
        monotone_constraints={k: v for k, v in MONOTONE.items() if k in names} if cfg["mono"] else {},
        params={k: v for k, v in params[chosen].items() if k != "monotone_constraints"},
        num_boost_round=results[chosen]["n_rounds"],
        data=dict(path=str(DATA), sha256=sha256(DATA), rows=len(df)), split=split,
        metrics=results[chosen], edu_auc_cost_val=edu_cost,
        cutoffs=dict(approve_below=a, decline_at_or_above=b,
                     rule=f"a = largest PD cut-off with validation default rate among approved <= {BAD_RATE_TARGET}; "
                          f"b = smallest cut-off > a whose decline band has validation default rate >= {DECLINE_BAND_RATE}"),
        policy=dict(UPLIFT=policy.UPLIFT, LGD=policy.LGD, EL_MAX=policy.EL_MAX,
                    REFER_FRACTION=policy.REFER_FRACTION),
        reason_codes={k: dict(text=t, features=[f for f in fs if f in names])
                      for k, (t, fs) in REASON_CODES.items() if any(f in names for f in fs)},
        tests=tests,
    )
    (HERE / "model.json").write_text(json.dumps(meta, indent=2))
    allres = dict(split=split, experiments=results, chosen=chosen, edu_auc_cost_val=edu_cost,
                  calibration=calib, cutoffs=dict(a=a, b=b), bands=bands, fairness=fair,
                  fairness_overall=fair_all, fairness_contrast_eng_all=fair_contrast,
                  contrast_eng_all_cutoff=a_all, tests=tests, examples=examples,
                  top1_reason_counts_not_approved=top1, top_gain=top_gain,
                  runtime_s=time.time() - t0)
    (HERE / "results.json").write_text(json.dumps(allres, indent=2, default=float))

    # ---- markdown tables for RESULTS.md
    exp_rows = [dict(config=k, features=v["config"]["features"],
                     protected="yes" if v["config"]["prot"] else "no",
                     EDUCATION="yes" if v["config"]["edu"] else "no",
                     monotone="yes" if v["config"]["mono"] else "no",
                     n_feat=v["n_features"], rounds=v["n_rounds"],
                     cv5_trainpart=v["cv_train_part_auc"], val_auc=v["val_auc"],
                     cv5_full=f"{v['cv5_full_auc_mean']:.4f} ± {v['cv5_full_auc_sd']:.4f}",
                     val_brier=v["val_brier"])
                for k, v in results.items()]
    fcols = ["group", "n", "default_rate", "mean_pd", "auc", "approval_rate",
             "approval_ratio_vs_max", "fpr", "tpr", "bad_rate_approved"]
    md = ["## Experiments", md_table(exp_rows, list(exp_rows[0].keys())),
          f"\nchosen: {chosen}; EDUCATION AUC gain (val, monotone) = {edu_cost:+.4f}",
          "\n## Calibration (validation deciles)", md_table(calib, ["decile", "n", "mean_pd", "default_rate"]),
          f"\n## Policy bands (a={a}, b={b})",
          md_table(bands, ["decision", "n", "share", "default_rate", "mean_pd", "mean_old_limit",
                           "mean_new_limit", "expected_loss_total"], {"mean_old_limit": "{:.0f}",
                                                                      "mean_new_limit": "{:.0f}",
                                                                      "expected_loss_total": "{:.0f}"}),
          "\n## Fairness overall", md_table(fair_all, fcols)]
    for k, rws in fair.items():
        md += [f"\n## Fairness by {k}", md_table(rws, fcols)]
    for k, rws in fair_contrast.items():
        md += [f"\n## Contrast: eng_all (uses protected attrs), cut-off {a_all}, by {k}", md_table(rws, fcols)]
    md += ["\n## Reason codes", mapping_table_markdown(),
           "\n## Top-1 reason counts among not-approved", json.dumps(top1),
           "\n## Examples", "```json\n" + json.dumps(examples, indent=1) + "\n```",
           "\n## Top gain", "\n".join(f"- {f}: {g:.0f}" for f, g in top_gain),
           "\n## Tests", "```json\n" + json.dumps(tests, indent=1) + "\n```",
           f"\nmodel.txt sha256 {model_sha}"]
    (HERE / "results_tables.md").write_text("\n".join(md) + "\n")
    print(f"done in {time.time() - t0:.0f}s; model sha256 {model_sha}")


if __name__ == "__main__":
    sys.exit(main())
