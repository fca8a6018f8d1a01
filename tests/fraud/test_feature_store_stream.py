"""The live store's per-entity states (fraud.feature_store.EntityBatch: load the transaction's
customer and terminal, features, store, save), run one transaction at a time over the 6,676
real handbook transactions of data/, give exactly the offline stream's features
(fraud.features.FeatureState, what training and fraud_score_csv compute), with labels fed back
at various delays; and labels known later never change earlier features. No database: the SQL
around EntityBatch is tested in test_feature_store.py."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from fraud import ml
from fraud.feature_store import EntityBatch
from fraud.features import (
    CUST_KNOWN_WINDOWS,
    CUST_WINDOWS,
    DAY,
    DELAY,
    TERM_KNOWN_WINDOWS,
    TERM_WINDOWS,
    FeatureState,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "fraud-handbook-sample.csv"


@pytest.fixture(scope="module")
def txs():
    return ml.read_transactions(SAMPLE, labels=True)


def _feedback(txs, flip_after=None):
    """Frauds reported 1-9 days after they happen (within the 7-day delay or after it), some
    genuine ones confirmed after 2 days; labels known after ``flip_after`` are inverted."""
    out = {}
    for i, r in enumerate(txs):
        if r.fraud:
            out[str(r.tx_id)] = (1, r.t + (1 + i % 9) * DAY)
        elif i % 5 == 0:
            out[str(r.tx_id)] = (0, r.t + 2 * DAY)
    if flip_after is not None:
        out = {k: ((1 - f) if known > flip_after else f, known) for k, (f, known) in out.items()}
    return out


def _live(txs, feedback):
    store: dict[str, str] = {}
    X = []
    for r in txs:
        ck, tk = f"c:{r.customer}", f"t:{r.terminal}"
        batch = EntityBatch({ck: store.get(ck, ""), tk: store.get(tk, "")})
        for tx in [*batch.waiting(), str(r.tx_id)]:     # what the label query returns
            if tx in feedback:
                batch.add_label(tx, *feedback[tx])
        x, t = batch.features(str(r.tx_id), r.t, str(r.customer), str(r.terminal), r.amount)
        assert t == r.t
        X.append(x)
        for key, text, _clock in batch.export():
            store[key] = text
    return np.array(X), store


def _offline(txs, feedback):
    st = FeatureState(delay=DELAY)
    for tx, (fraud, known) in feedback.items():
        st.add_label(tx, fraud, known + 1)
    X = []
    for r in txs:
        X.append(st.features(r.t, str(r.customer), str(r.terminal), r.amount))
        st.update(str(r.tx_id), r.t, str(r.customer), str(r.terminal), r.amount)
        st.add_label(str(r.tx_id), 0, r.t + DELAY)
    return np.array(X)


def test_store_equals_the_offline_stream_on_the_handbook_sample(txs):
    feedback = _feedback(txs)
    live, store = _live(txs, feedback)
    offline = _offline(txs, feedback)
    assert live.shape == (len(txs), 40)
    assert np.array_equal(live, offline, equal_nan=True)
    # and the fed-back labels mattered (the comparison is not between two empty label sets)
    assert not np.array_equal(offline, _offline(txs, {}), equal_nan=True)
    # states hold windows, not history: the largest is a few kB
    assert max(len(v) for v in store.values()) < 30_000


def test_labels_known_later_change_no_earlier_feature(txs):
    cut = txs[len(txs) // 2].t
    base, _ = _live(txs, _feedback(txs))
    flipped, _ = _live(txs, _feedback(txs, flip_after=cut))
    t = np.array([r.t for r in txs])
    assert np.array_equal(base[t <= cut + 1], flipped[t <= cut + 1], equal_nan=True)
    assert (~np.all((base == flipped) | (np.isnan(base) & np.isnan(flipped)), axis=1)).sum() > 50


def _as_format_1(kind: str, key: str, data: dict) -> dict:
    """A format-2 state in the layout of earlier releases (every window stored separately, the
    entity's own id in each of its transactions), as stored rows written before the change
    still hold it."""
    now = data["now"]
    wins, kwins = (CUST_WINDOWS, CUST_KNOWN_WINDOWS) if kind == "c" else (TERM_WINDOWS,
                                                                           TERM_KNOWN_WINDOWS)
    stamp = (lambda x: x[0]) if kind == "c" else (lambda x: x)
    old = {k: v for k, v in data.items() if k != "v"}
    old["prior"] = [[x for x in data["prior"] if stamp(x) > now - w * DAY] for w in wins]
    old["known"] = [[it for it in data["known"] if it[0] > now - DELAY - w * DAY]
                    for w in kwins]
    old["txs"] = [[tx, t, key, other, c] if kind == "c" else [tx, t, other, key, c]
                  for tx, t, other, c in data["txs"]]
    return old


def test_states_of_the_earlier_format_load_to_the_same_features(txs):
    """Rows written in format 1 (before the compact layout) are read as they were: the same
    features for the next transaction and the same state written back, in format 2."""
    _, store = _live(txs[: len(txs) // 2], _feedback(txs))
    compact = old = 0
    for r in txs[len(txs) // 2: len(txs) // 2 + 200]:
        keys = [f"c:{r.customer}", f"t:{r.terminal}"]
        new_states = {k: store.get(k, "") for k in keys}
        old_states = {k: json.dumps(_as_format_1(k[0], k[2:], json.loads(v))) if v else ""
                      for k, v in new_states.items()}
        compact += sum(map(len, new_states.values()))
        old += sum(map(len, old_states.values()))
        out = []
        for states in (new_states, old_states):
            batch = EntityBatch(states)
            assert all(json.loads(v).get("v", 1) == (2 if states is new_states else 1)
                       for v in states.values() if v)
            x, _ = batch.features(str(r.tx_id), r.t, str(r.customer), str(r.terminal),
                                  r.amount)
            out.append((x, batch.export()))
        (x_new, back_new), (x_old, back_old) = out
        assert np.array_equal(x_new, x_old, equal_nan=True)
        assert back_new == back_old
    print(f"format 2 / format 1 size: {compact / old:.2f}")
    assert compact < 0.75 * old    # the compact layout is what saves the space


def _adversarial(seed: int, n: int = 400) -> tuple[list, dict]:
    """A stream built to hit the edges (from an attack review): a third of the transactions in
    the same second as the one before, many exactly at (+-1 s) the 1/7/30-day windows and the
    7 + 30-day label windows of an earlier one, amounts of 0 and 0.01; fed-back labels known at
    0 s, 1 s, 1 day, 7 days - 2 s, 7 and 8 days, 30 days after their transaction, some exactly
    when the default label is released (t + delay - 1: a tie) and some before their own
    transaction (another clock)."""
    from types import SimpleNamespace

    rng = random.Random(seed)
    t, txs, anchors = 10 * DAY, [], []
    for i in range(n):
        mode = rng.random()
        if mode < 0.3:
            step = 0
        elif mode < 0.6 and anchors:
            target = rng.choice(anchors) + rng.choice([1, 7, 30, 37, 38, 44]) * DAY \
                + rng.choice([-1, 0, 1])
            step = max(0, target - t)
        else:
            step = rng.choice([1, 59, 3600, DAY // 3, DAY - 1, DAY])
        t += step
        anchors = [*anchors[-39:], t]
        txs.append(SimpleNamespace(tx_id=f"tx{seed}_{i}", t=t, customer=rng.randrange(4),
                                   terminal=rng.randrange(3),
                                   amount=rng.choice([0.01, 1.0, 12.34, 100.0, 99999.99, 0.0])))
    feedback = {}
    for r in txs:
        u = rng.random()
        if u < 0.3:
            feedback[r.tx_id] = (1, r.t + rng.choice([0, 1, DAY, 7 * DAY - 2, 7 * DAY, 8 * DAY,
                                                       30 * DAY]))
        elif u < 0.4:
            feedback[r.tx_id] = (0, r.t + rng.choice([0, 2 * DAY, 6 * DAY]))
        elif u < 0.5:
            feedback[r.tx_id] = (1, r.t + DELAY - 1)     # released with the default label
        elif u < 0.55:
            feedback[r.tx_id] = (1, r.t - 5)             # known before its transaction
    return txs, feedback


@pytest.mark.parametrize("seed", range(6))
def test_adversarial_streams_equal_the_offline_stream(seed):
    txs, feedback = _adversarial(seed)
    live, _ = _live(txs, feedback)
    offline = _offline(txs, feedback)
    bad = np.where(~np.all((live == offline) | (np.isnan(live) & np.isnan(offline)), axis=1))[0]
    assert bad.size == 0, (seed, bad[:5].tolist())
