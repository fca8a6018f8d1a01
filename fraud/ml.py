"""The fraud model: data in the handbook's CSV format, training, backtest scoring, metrics.

Everything here goes through :class:`fraud.features.FeatureState` (one feature code path for
training, ``fraud_score_csv`` and live scoring) and the model registry
(:mod:`creditplatform.model_registry`, LightGBM text models with checksums, no pickle).
No ORM: the live scorer (:mod:`fraud.model`) keeps the same state in the database
(:mod:`fraud.feature_store`); :func:`live_features` recomputes it from the journal.

Metrics follow Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud
Detection - Practical Handbook*, ch. 4: AUC ROC, average precision and Card Precision@k.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from creditplatform import model_registry
from fraud.features import DAY, FEATURES, ORIGIN, FeatureState, to_seconds

MODEL_NAME = "fraud-lgbm"
DEFAULT_REGISTRY = Path(__file__).resolve().parent / "artifacts"
HANDBOOK_REFERENCE = {"auc_roc": 0.871, "average_precision": 0.687, "card_precision@100": 0.303}
# Hyper-parameters chosen in the research (/work/research/fraud/RESULTS.md) on an inner split
# moved 14 days earlier: training starts 7 days after the data (windows warmed up), 478 rounds.
PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15,
          "min_data_in_leaf": 100, "feature_fraction": 0.8, "bagging_fraction": 0.8,
          "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 255, "verbose": -1, "seed": 42,
          "deterministic": True, "force_row_wise": True}
DEFAULT_ROUNDS = 478
DEFAULT_TRAIN_START_OFFSET_DAYS = 7
# Decision thresholds are picked on the validation period: decline where precision reaches
# DECLINE_PRECISION, review where it reaches REVIEW_PRECISION (fallbacks if never reached).
DECLINE_PRECISION = 0.9
REVIEW_PRECISION = 0.3
APPROVE, REVIEW, DECLINE = "approve", "review", "decline"


class Tx(NamedTuple):
    """One transaction: ``t`` seconds since ORIGIN, ``amount`` in currency units, ``fraud``
    the label (None when unknown), ``day`` whole days since ORIGIN."""

    tx_id: int
    t: int
    customer: int
    terminal: int
    amount: float
    fraud: int | None
    day: int


class DataError(ValueError):
    """An input file cannot be used; the message says why."""


def _seconds(raw: dict[str, str]) -> int:
    if raw.get("TX_TIME_SECONDS") not in (None, ""):
        return int(raw["TX_TIME_SECONDS"])
    when = dt.datetime.strptime(raw["TX_DATETIME"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    return to_seconds(when)


def read_transactions(path: str | os.PathLike[str], *, labels: bool = False) -> list[Tx]:
    """Read a handbook-format CSV (``TRANSACTION_ID, TX_DATETIME or TX_TIME_SECONDS,
    CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT``; ``TX_FRAUD`` read only when ``labels``).

    Returns the rows in time order (stable: file order among equal times).
    """
    out: list[Tx] = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        need = {"TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"}
        if labels:
            need.add("TX_FRAUD")
        if not (need <= cols and cols & {"TX_DATETIME", "TX_TIME_SECONDS"}):
            raise DataError(f"{path}: needs columns {sorted(need)} and TX_DATETIME or "
                            f"TX_TIME_SECONDS, has {sorted(cols)}")
        for line, raw in enumerate(reader, start=2):
            try:
                t = _seconds(raw)
                fraud = int(raw["TX_FRAUD"]) if labels else None
                amount = float(raw["TX_AMOUNT"])
                if not math.isfinite(amount):
                    raise ValueError("amount is not finite")
                day = int(raw["TX_TIME_DAYS"]) if raw.get("TX_TIME_DAYS") else t // DAY
                out.append(Tx(int(raw["TRANSACTION_ID"]), t, int(raw["CUSTOMER_ID"]),
                              int(raw["TERMINAL_ID"]), amount, fraud, day))
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}, line {line}: {exc}") from None
    out.sort(key=lambda r: r.t)
    return out


def read_feedback(path: str | os.PathLike[str]) -> list[tuple[int, int, int]]:
    """Rows ``TRANSACTION_ID,TX_FRAUD,KNOWN_AT`` -> (tx id, label, known_at seconds).

    KNOWN_AT is seconds since ORIGIN (like TX_TIME_SECONDS) or a date-time
    ``YYYY-MM-DD HH:MM:SS`` (UTC; ISO 8601 with an offset is accepted too).
    """
    out = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"TRANSACTION_ID", "TX_FRAUD", "KNOWN_AT"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing columns {sorted(missing)}")
        for line, raw in enumerate(reader, start=2):
            try:
                known = raw["KNOWN_AT"].strip()
                if known.lstrip("-").isdigit():
                    known_at = int(known)
                else:
                    known_at = to_seconds(dt.datetime.fromisoformat(known))
                out.append((int(raw["TRANSACTION_ID"]), int(raw["TX_FRAUD"]), known_at))
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path}, line {line}: {exc}") from None
    return out


def file_sha256(path: str | os.PathLike[str]) -> str:
    return model_registry.sha256_file(path)


def day_str(day: int) -> str:
    return (ORIGIN + dt.timedelta(days=int(day))).date().isoformat()


# features over a labelled stream ---------------------------------------------------------------
def stream_features(txs: Sequence[Tx], *, delay: int,
                    progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Features of every transaction of a fully labelled, time-ordered stream, each label
    known ``delay`` seconds after its transaction (the handbook's protocol)."""
    st = FeatureState(delay=delay)
    X = np.empty((len(txs), len(FEATURES)))
    for i, r in enumerate(txs):
        X[i] = st.features(r.t, r.customer, r.terminal, r.amount)
        st.update(r.tx_id, r.t, r.customer, r.terminal, r.amount)
        if r.fraud is not None:
            st.add_label(r.tx_id, r.fraud, r.t + delay)
        if progress is not None and (i + 1) % 100_000 == 0:
            progress(i + 1)
    return X


# metrics ---------------------------------------------------------------------------------------
def roc_auc(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney; tied scores count one half)."""
    y = np.asarray(y, dtype=np.int64)
    s = np.asarray(score, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    ranks = np.empty(len(s))
    # average ranks (1-based) over runs of equal scores
    bounds = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ranks[a:b] = (a + 1 + b) / 2.0
    r = np.empty(len(s))
    r[order] = ranks
    return float((r[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: Sequence[int] | np.ndarray,
                      score: Sequence[float] | np.ndarray) -> float:
    """AP = sum over distinct thresholds of (R_n - R_{n-1}) * P_n (scikit-learn's definition,
    no interpolation; tied scores form one threshold)."""
    y = np.asarray(y, dtype=np.int64)
    s = np.asarray(score, dtype=np.float64)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])   # last index of each threshold
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def card_precision_top_k(day: Sequence[int], card: Sequence[Any], fraud: Sequence[int],
                         score: Sequence[float], k: int = 100) -> dict[str, Any]:
    """Card Precision@k, handbook ch. 4 (``card_precision_top_k``).

    For each day in ascending order: drop the transactions of cards *detected* on an earlier
    day (in that day's top k with a fraud); per card take the max score and max label; rank
    cards by max score (ties: lower card id first) and take the top k; precision = cards with
    a fraud among them / k (divided by k even if fewer cards remain); the detected cards are
    removed from later days. CP@k is the mean over days.
    """
    day = np.asarray(day)
    fraud = np.asarray(fraud, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    card = np.asarray(card)
    detected: set[Any] = set()
    per_day: list[float] = []
    compromised: list[int] = []
    for d in sorted(set(day.tolist())):
        best: dict[Any, list[float]] = {}
        for c, f, s in zip(card[day == d].tolist(), fraud[day == d].tolist(),
                           score[day == d].tolist(), strict=True):
            if c in detected:
                continue
            cur = best.get(c)
            if cur is None:
                best[c] = [s, f]
            else:
                cur[0] = max(cur[0], s)
                cur[1] = max(cur[1], f)
        compromised.append(sum(1 for v in best.values() if v[1]))
        top = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k]
        hits = [c for c, (_, f) in top if f]
        per_day.append(len(hits) / k)
        detected.update(hits)
    return {"card_precision": float(np.mean(per_day)) if per_day else float("nan"),
            "per_day": per_day, "compromised_cards_per_day": compromised,
            "ceiling": float(np.mean([min(n, k) / k for n in compromised])) if per_day
            else float("nan")}


def performance(day: Sequence[int], card: Sequence[Any], fraud: Sequence[int],
                score: Sequence[float], k: int = 100) -> dict[str, Any]:
    """AUC ROC, average precision and CP@k (with per-day values and the CP ceiling)."""
    cp = card_precision_top_k(day, card, fraud, score, k)
    y = np.asarray(fraud, dtype=np.int64)
    return {"auc_roc": roc_auc(y, score), "average_precision": average_precision(y, score),
            f"card_precision@{k}": cp["card_precision"],
            f"card_precision@{k}_per_day": cp["per_day"],
            f"card_precision@{k}_ceiling": cp["ceiling"],
            "compromised_cards_per_day": cp["compromised_cards_per_day"],
            "n_tx": len(y), "n_fraud": int(y.sum())}


def pick_thresholds(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Lowest scores at which precision (of everything scored at least as high) reaches
    REVIEW_PRECISION and DECLINE_PRECISION on the given (validation) data."""
    order = np.argsort(-score, kind="mergesort")
    ys, ss = y[order], score[order]
    last = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])
    tp = np.cumsum(ys)[last]
    prec = tp / (last + 1)
    out = {}
    for key, target, fallback in (("review", REVIEW_PRECISION, 0.5),
                                  ("decline", DECLINE_PRECISION, 0.9)):
        ok = np.flatnonzero((prec >= target) & (tp >= 10))
        out[key] = float(ss[last[ok[-1]]]) if len(ok) else fallback
    out["review"] = min(out["review"], out["decline"])
    out["review_precision_target"] = REVIEW_PRECISION
    out["decline_precision_target"] = DECLINE_PRECISION
    return out


# training --------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model_text: str
    meta: dict[str, Any]
    test_scores: np.ndarray
    test_rows: list[Tx]


def train(txs: Sequence[Tx], *, label_delay_days: int = 7, test_days: int = 7,
          train_start_offset_days: int = DEFAULT_TRAIN_START_OFFSET_DAYS,
          rounds: int = DEFAULT_ROUNDS, threads: int = 2, params: dict[str, Any] | None = None,
          log: Callable[[str], None] = print) -> TrainResult:
    """Temporal split (train, ``label_delay_days`` gap, last ``test_days`` days validation),
    features streamed through FeatureState with labels known ``label_delay_days`` after each
    transaction, LightGBM fit on the train part, metrics on the validation part."""
    import lightgbm as lgb

    if not txs:
        raise DataError("no transactions")
    if any(r.fraud is None for r in txs):
        raise DataError("training needs TX_FRAUD on every row")
    delay = label_delay_days * DAY
    t0 = time.monotonic()
    log(f"features: streaming {len(txs):,} transactions through FeatureState")
    X = stream_features(txs, delay=delay,
                        progress=lambda n: log(f"  {n:,} rows ({time.monotonic() - t0:.0f}s)"))
    log(f"features: {X.shape} in {time.monotonic() - t0:.1f}s")
    y = np.fromiter((r.fraud for r in txs), dtype=np.int64, count=len(txs))
    days = np.fromiter((r.day for r in txs), dtype=np.int64, count=len(txs))
    first, last = int(days.min()), int(days.max())
    test_start = last - test_days + 1
    train_end = test_start - label_delay_days - 1
    train_start = first + train_start_offset_days
    if train_end < train_start:
        raise DataError(f"{last - first + 1} days of data are too few for the split")
    tr = (days >= train_start) & (days <= train_end)
    te = days >= test_start
    if y[tr].sum() == 0 or y[te].sum() == 0:
        raise DataError("the train or validation part has no fraud")
    split = {"train": [day_str(train_start), day_str(train_end)],
             "delay": [day_str(train_end + 1), day_str(test_start - 1)],
             "test": [day_str(test_start), day_str(last)]}
    p = dict(PARAMS, **(params or {}), num_threads=threads)
    log(f"split: {split}; train {int(tr.sum()):,} rows ({int(y[tr].sum())} frauds), "
        f"validation {int(te.sum()):,} rows ({int(y[te].sum())} frauds)")
    t1 = time.monotonic()
    def progress(env: Any) -> None:  # a LightGBM callback: a line every 10 % of the rounds
        done = env.iteration + 1
        if done % max(1, rounds // 10) == 0 or done == rounds:
            log(f"  fit: round {done}/{rounds} ({time.monotonic() - t1:.0f}s)")

    booster = lgb.train(p, lgb.Dataset(X[tr], label=y[tr], feature_name=FEATURES),
                        num_boost_round=rounds, callbacks=[progress])
    fit_s = time.monotonic() - t1
    log(f"fit: {rounds} rounds in {fit_s:.1f}s")
    model_text = booster.model_to_string()
    # score with the model as it will be loaded (parsed back from its text form)
    reloaded = lgb.Booster(model_str=model_text)
    pred = reloaded.predict(X[te], num_threads=threads)
    test_rows = [r for r, keep in zip(txs, te, strict=True) if keep]
    met = performance(days[te], [r.customer for r in test_rows], y[te], pred, 100)
    gain = booster.feature_importance("gain")
    splits = booster.feature_importance("split")
    imp = sorted(({"feature": f, "gain_share": round(float(g / gain.sum()), 5),
                   "splits": int(s)} for f, g, s in zip(FEATURES, gain, splits, strict=True)),
                 key=lambda r: -r["gain_share"])
    meta = {
        "features": FEATURES, "label_delay_days": label_delay_days, "test_days": test_days,
        "params": p, "num_boost_round": rounds,
        "train_start_offset_days": train_start_offset_days, "fit_seconds": round(fit_s, 1),
        "split": split, "train_rows": int(tr.sum()), "train_frauds": int(y[tr].sum()),
        "test_rows": int(te.sum()), "test_frauds": int(y[te].sum()),
        "metrics_test": met, "handbook_reference": HANDBOOK_REFERENCE,
        "thresholds": pick_thresholds(y[te], pred),
        "feature_importance": imp,
        "versions": {"lightgbm": lgb.__version__, "numpy": np.__version__},
        "references": ["Le Borgne, Siblini, Lebichot, Bontempi: Reproducible Machine Learning "
                       "for Credit Card Fraud Detection - Practical Handbook (ULB MLG), ch. 3-4"],
    }
    return TrainResult(model_text=model_text, meta=meta, test_scores=pred, test_rows=test_rows)


# the registered model --------------------------------------------------------------------------
def registry_root() -> Path:
    """``settings.FRAUD_MODEL_REGISTRY`` when Django is configured, else ``fraud/artifacts``."""
    try:
        from django.conf import settings

        return Path(getattr(settings, "FRAUD_MODEL_REGISTRY", DEFAULT_REGISTRY))
    except Exception:  # noqa: BLE001 - settings not configured (plain scripts)
        return DEFAULT_REGISTRY


class FraudModel:
    """A registered, checksum-verified LightGBM model and its decision thresholds."""

    def __init__(self, artifact: model_registry.Artifact) -> None:
        if artifact.meta.get("features") != FEATURES:
            raise model_registry.ArtifactIntegrityError(
                f"{artifact.name} {artifact.version} was trained on other features")
        self.artifact = artifact
        self.booster = artifact.model
        self.version = f"{artifact.name}:{artifact.version}"
        self.delay = int(artifact.meta.get("label_delay_days", 7)) * DAY
        th = artifact.meta.get("thresholds") or {}
        self.review = float(th.get("review", 0.5))
        self.decline = float(th.get("decline", 0.9))
        self._row = np.empty((1, len(FEATURES)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.empty(0)
        return self.booster.predict(X, num_threads=1)

    def predict_one(self, x: Sequence[float]) -> float:
        self._row[0] = x
        return float(self.booster.predict(self._row, num_threads=1)[0])

    def decision(self, score: float) -> str:
        if score >= self.decline:
            return DECLINE
        return REVIEW if score >= self.review else APPROVE


def load_model(*, root: str | os.PathLike[str] | None = None, version: str | None = None,
               name: str = MODEL_NAME) -> FraudModel:
    """Load and verify a registered model (the latest by default)."""
    return FraudModel(model_registry.load(root=root or registry_root(), name=name,
                                          version=version))


@lru_cache(maxsize=4)
def _cached(root: str, name: str, version: str | None) -> FraudModel | None:
    if not model_registry.versions(root=root, name=name):
        return None
    return load_model(root=root, name=name, version=version)


def current_model() -> FraudModel | None:
    """The model live scoring uses (``settings.FRAUD_MODEL_VERSION`` or the latest), loaded
    once per process; None when no model is registered (the rules scorecard is used)."""
    try:
        from django.conf import settings

        if not getattr(settings, "FRAUD_MODEL_ENABLED", True):
            return None
        version = getattr(settings, "FRAUD_MODEL_VERSION", None)
    except Exception:  # noqa: BLE001
        version = None
    return _cached(str(registry_root()), MODEL_NAME, version)


# backtest scoring ------------------------------------------------------------------------------
def score_stream(model: FraudModel, transactions: Sequence[Tx], *,
                 history: Iterable[Tx] = (), feedback: Iterable[tuple[int, int, int]] = (),
                 ) -> list[tuple[int, float, str]]:
    """Score ``transactions`` (their labels are ignored) as live scoring would have.

    ``history``: an earlier labelled period, streamed first for warm-up; each of its labels is
    known ``label delay`` after its transaction. ``feedback``: (tx id, label, known_at); a label
    counts only for transactions strictly after ``known_at``. Returns (id, score, decision).
    """
    hist = sorted(history, key=lambda r: r.t)
    if hist and transactions and hist[-1].t > transactions[0].t:
        raise DataError("the history must end before the transactions to score begin")
    st = FeatureState(delay=model.delay)
    for tx_id, fraud, known_at in feedback:
        st.add_label(tx_id, fraud, known_at + 1)   # strictly after KNOWN_AT (1 s resolution)
    for r in hist:
        st.features(r.t, r.customer, r.terminal, r.amount)
        st.update(r.tx_id, r.t, r.customer, r.terminal, r.amount)
        if r.fraud is not None:
            st.add_label(r.tx_id, r.fraud, r.t + model.delay)
    X = np.empty((len(transactions), len(FEATURES)))
    for i, r in enumerate(transactions):
        X[i] = st.features(r.t, r.customer, r.terminal, r.amount)
        st.update(r.tx_id, r.t, r.customer, r.terminal, r.amount)
    # Scores never feed back into the state, so one batched predict over the rows gives the
    # same numbers as predicting row by row (LightGBM's batch and single-row paths agree).
    scores = model.predict(X)
    return [(r.tx_id, float(s), model.decision(float(s)))
            for r, s in zip(transactions, scores, strict=True)]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# live scoring ----------------------------------------------------------------------------------
#: How far back live scoring reads an account's and a merchant's history. Every window ends
#: within label delay + 30 days; beyond that only the "time since" features (last known fraud,
#: start of the terminal's fraud run) could differ from the full stream.
LIVE_HORIZON_DAYS = 60


def live_features(entry: Any, *, delay: int = DAY * 7,
                  horizon_days: int | None = None) -> list[float]:
    """Features of a journal entry as the stream would have them at ``entry.occurred_at``,
    recomputed from the journal: the reference the live feature store
    (:mod:`fraud.feature_store`, what scoring uses) can be checked against. It reads up to
    ``horizon_days`` of the account's and the merchant's history, so it is not for the hot path.

    A :class:`FeatureState` is fed from two bounded, indexed range reads (the entry's account
    on ``(account, occurred_at)`` and its merchant on ``(merchant, occurred_at)``, the last
    ``horizon_days`` before the entry) and the label feedback of the support queue, as of the
    entry's time: an alert decided ``confirmed_fraud`` is a fraud label known at its
    ``decided_at``; any other transaction counts as genuine from ``occurred_at`` + label delay
    (the handbook's convention: not reported within the delay means genuine), or from an
    earlier ``false_positive`` decision. Decisions after the entry's time are not seen, so
    re-scoring an entry later gives the same features.

    The customer is the credit account, the terminal the merchant (an entry without a merchant
    has no terminal history); amounts are minor units / 100.
    """
    from django.conf import settings

    from fraud.models import Alert
    from ledger.models import JournalEntry

    horizon = horizon_days or getattr(settings, "FRAUD_LIVE_HORIZON_DAYS", LIVE_HORIZON_DAYS)
    when = entry.occurred_at
    t_now = to_seconds(when)
    since = when - dt.timedelta(days=horizon)
    kinds = [JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE]
    base = JournalEntry.objects.filter(kind__in=kinds, occurred_at__gte=since,
                                       occurred_at__lt=when).exclude(pk=entry.pk)
    cols = ("id", "occurred_at", "account_id", "merchant", "amount")
    rows = {r[0]: r for r in base.filter(account_id=entry.account_id).values_list(*cols)}
    if entry.merchant:
        rows.update((r[0], r) for r in base.filter(merchant=entry.merchant).values_list(*cols))
    decided = {e: (status, at) for e, status, at in Alert.objects.filter(
        entry_id__in=list(rows), decided_at__lte=when,
        status__in=[Alert.Status.CONFIRMED_FRAUD, Alert.Status.FALSE_POSITIVE],
    ).values_list("entry_id", "status", "decided_at")}
    st = FeatureState(delay=delay)
    history = sorted(rows.values(), key=lambda r: (r[1], str(r[0])))
    for tx_id, occurred, account, merchant, amount in history:
        t = to_seconds(occurred)
        terminal = merchant or ("", tx_id)
        st.update(tx_id, t, account, terminal, amount / 100.0)
        status, at = decided.get(tx_id, (None, None))
        if status == Alert.Status.CONFIRMED_FRAUD:
            st.add_label(tx_id, 1, to_seconds(at))
        elif status == Alert.Status.FALSE_POSITIVE:
            st.add_label(tx_id, 0, min(to_seconds(at), t + delay))
        else:
            st.add_label(tx_id, 0, t + delay)
    terminal = entry.merchant or ("", entry.pk)
    return st.features(max(t_now, st.now or t_now), entry.account_id, terminal,
                       entry.amount / 100.0)


def explain(model: FraudModel, x: Sequence[float], top: int = 5) -> dict[str, float]:
    """The features that pushed the score most (LightGBM's per-feature SHAP contributions to
    the log-odds), largest first."""
    return explain_many(model, [x], top)[0]


def explain_many(model: FraudModel, X: Sequence[Sequence[float]],
                 top: int = 5) -> list[dict[str, float]]:
    """:func:`explain` of several rows with one LightGBM call."""
    if not len(X):
        return []
    rows = np.asarray(X, dtype=np.float64)
    contribs = model.booster.predict(rows, pred_contrib=True, num_threads=1)[:, :-1]
    out = []
    for contrib in contribs:
        order = np.argsort(-np.abs(contrib))[:top]
        out.append({FEATURES[i]: round(float(contrib[i]), 4) for i in order})
    return out
