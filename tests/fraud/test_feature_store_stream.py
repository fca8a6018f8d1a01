"""The live store's per-entity states (fraud.feature_store.EntityBatch: load the transaction's
customer and terminal, features, store, save), run one transaction at a time over the 6,676
real handbook transactions of data/, give exactly the offline stream's features
(fraud.features.FeatureState, what training and fraud_score_csv compute), with labels fed back
at various delays; and labels known later never change earlier features. No database: the SQL
around EntityBatch is tested in test_feature_store.py."""

from pathlib import Path

import numpy as np
import pytest

from fraud import ml
from fraud.feature_store import EntityBatch
from fraud.features import DAY, DELAY, FeatureState

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
