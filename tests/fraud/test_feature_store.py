"""The live feature store (fraud.feature_store) computes exactly the offline stream's features
(fraud.features.FeatureState, what training and fraud_score_csv use), and a label known later
never changes an earlier entry's features."""

import datetime as dt
import io
import json
import random
from contextlib import contextmanager

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from fraud import feature_store
from fraud.aggregates import FeatureEntityState, FeatureSnapshot
from fraud.features import DAY, DELAY, FEATURES, ORIGIN, FeatureState, to_seconds
from fraud.models import FraudLabel, FraudScore
from ledger import services
from ledger.signals import entry_recorded
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 70 * DAY          # 2018-06-10: inside the handbook's clock, like replayed data
MERCHANTS = ["shop-a", "shop-b", "shop-c", "shop-d"]


def _specs(n=90, seed=7):
    """(seconds, customer index, merchant, amount minor units), time-ordered: 3 customers,
    4 merchants shared between them, over ~40 days (so the 1/7/30-day windows and the 7-day
    label delay all come into play)."""
    rng = random.Random(seed)
    t = T0
    out = []
    for _ in range(n):
        t += rng.randint(600, 14 * 3600)
        out.append((t, rng.randrange(3), rng.choice(MERCHANTS), rng.randint(150, 25_000)))
    return out


@contextmanager
def _unscored():
    """Charges committed in here are not scored on commit (the receiver is disconnected)."""
    from fraud.receivers import on_entry_recorded

    entry_recorded.disconnect(dispatch_uid="fraud.on_entry_recorded")
    try:
        yield
    finally:
        entry_recorded.connect(on_entry_recorded, dispatch_uid="fraud.on_entry_recorded")


def _charge(users, spec):
    t, who, merchant, amount = spec
    acc = users[who].credit_accounts.get()
    return services.charge_create(actor=users[who], account_id=acc.pk, amount=amount,
                                  currency="EUR", merchant=merchant,
                                  occurred_at=ORIGIN + dt.timedelta(seconds=t)).entry


def _label(entry, fraud, known_at):
    FraudLabel.objects.create(entry=entry, is_fraud=bool(fraud), source="support",
                              known_at=ORIGIN + dt.timedelta(seconds=known_at))


def _offline(entries, labels):
    """The offline stream over the same transactions: what fraud_score_csv would compute with
    these labels as --feedback (each counts from the second after its KNOWN_AT) and every other
    transaction genuine one label delay after it."""
    st = FeatureState(delay=DELAY)
    for tx_id, fraud, known_at in labels:
        st.add_label(tx_id, fraud, known_at + 1)
    out = {}
    for e in entries:
        t = to_seconds(e.occurred_at)
        args = (str(e.account_id), e.merchant, e.amount / 100)
        out[str(e.pk)] = st.features(t, *args)
        st.update(str(e.pk), t, *args)
        st.add_label(str(e.pk), 0, t + DELAY)
    return out


def _snapshots(entries):
    return {str(e.pk): feature_store.snapshot(e.pk) for e in entries}


def _same(a, b):
    return np.array_equal(np.array(a, dtype=float), np.array(b, dtype=float), equal_nan=True)


@pytest.fixture
def users(settings):
    settings.FRAUD_RULES = {"velocity_max_count": 10**9, "card_testing_max_small": 10**9,
                            "velocity_max_amount": 10**15}
    return [CustomerFactory(credit_limit=10**10) for _ in range(3)]


def test_live_scoring_features_equal_the_offline_stream(users):
    specs = _specs()
    entries, labels = [], []
    for i, spec in enumerate(specs):
        e = _charge(users, spec)       # committed -> on_commit -> scoring task -> the store
        entries.append(e)
        t = spec[0]
        if i % 9 == 4:                 # support confirms a fraud within the label delay
            labels.append((str(e.pk), 1, t + 2 * DAY))
        elif i % 9 == 7:               # a false positive, decided the next day
            labels.append((str(e.pk), 0, t + DAY))
        elif i % 9 == 8:               # a fraud reported after the delay: genuine by then
            labels.append((str(e.pk), 1, t + DELAY + DAY))
        if labels and labels[-1][0] == str(e.pk):
            _label(e, labels[-1][1], labels[-1][2])
    assert FraudScore.objects.filter(entry__in=entries).count() == len(entries)
    live = _snapshots(entries)
    expected = _offline(entries, labels)
    assert all(_same(live[k], expected[k]) for k in expected)
    # the features are the real thing: windows filled, known frauds seen by later entries
    last = np.array([live[str(e.pk)] for e in entries[-20:]])
    assert (last[:, FEATURES.index("c_cnt_30d")] > 5).all()
    assert (last[:, FEATURES.index("t_kf_30d")] > 0).any()
    # and they are the model's inputs: the stored score is the model on these features
    from fraud import ml

    model = ml.current_model()
    fs = FraudScore.objects.get(entry=entries[-1])
    p = model.predict_one(live[str(entries[-1].pk)])
    assert fs.model_version == model.version and fs.score >= p - 1e-12

    # the batched path (a worker scoring several entries per statement) and a rebuild from the
    # journal give the same features
    feature_store.reset()
    assert not FeatureSnapshot.objects.exists()
    assert feature_store.rebuild(batch=7) == len(entries)
    assert all(_same(v, expected[k]) for k, v in _snapshots(entries).items())
    out = io.StringIO()
    call_command("fraud_feature_store", "--reset", "--rebuild", "--batch", "40", stdout=out)
    assert f"fed {len(entries)} entries" in out.getvalue()
    assert all(_same(v, expected[k]) for k, v in _snapshots(entries).items())


def test_a_label_known_later_changes_no_earlier_features(users):
    specs = _specs(n=70, seed=11)
    with _unscored():
        entries = [_charge(users, spec) for spec in specs]
    cut = specs[35][0]
    # labels known before the cut, on the first entries
    for e, spec in zip(entries[:30:3], specs[:30:3], strict=True):
        _label(e, 1, spec[0] + DAY)
    feature_store.rebuild()
    before = _snapshots(entries)
    feature_store.reset()
    # now labels known only after the cut: frauds within their delay on entries just before
    # it, so they would matter to anything after the cut
    for e, spec in zip(entries[28:36], specs[28:36], strict=True):
        _label(e, 1, max(cut, spec[0]) + 60)
    feature_store.rebuild()
    after = _snapshots(entries)
    early = [str(e.pk) for e, s in zip(entries, specs, strict=True) if s[0] <= cut]
    late = [str(e.pk) for e, s in zip(entries, specs, strict=True) if s[0] > cut + 61]
    assert len(early) == 36 and len(late) > 20
    assert all(_same(before[k], after[k]) for k in early)            # bit-identical
    assert sum(not _same(before[k], after[k]) for k in late) > 5      # the test has teeth


def test_scoring_twice_or_rolled_back_does_not_move_the_state(users):
    specs = _specs(n=6, seed=3)
    with _unscored():
        entries = [_charge(users, spec) for spec in specs]
    first = feature_store.entries_features(entries[:5])
    states = dict(FeatureEntityState.objects.values_list("key", "state"))
    again = feature_store.entries_features(entries[:5])
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert dict(FeatureEntityState.objects.values_list("key", "state")) == states
    # a scoring transaction that fails leaves neither state nor snapshot behind
    with pytest.raises(RuntimeError), transaction.atomic():
        feature_store.entry_features(entries[5])
        raise RuntimeError("the FraudScore insert failed")
    assert dict(FeatureEntityState.objects.values_list("key", "state")) == states
    assert feature_store.snapshot(entries[5].pk) is None
    x = feature_store.entry_features(entries[5])
    assert _same(x, _offline(entries, [])[str(entries[5].pk)])
    # the state is JSON text of the entity's windows only: bounded by the 30-day windows
    with connection.cursor() as c:
        c.execute("SELECT max(length(state)) FROM fraud_featureentitystate")
        assert c.fetchone()[0] < 20_000
    assert json.loads(states[f"c:{entries[0].account_id}"])["now"] is not None


def test_batch_task_scores_like_the_single_task_and_is_idempotent(users):
    from compliance.models import AuditEvent
    from fraud import model
    from fraud.models import Alert
    from fraud.tasks import score_entries

    specs = _specs(n=12, seed=5)
    specs[7] = (specs[7][0], specs[7][1], specs[7][2], 60_000)      # large amount: an alert
    with _unscored():
        entries = [_charge(users, spec) for spec in specs]
    ids = [str(e.pk) for e in entries]
    first = score_entries.apply(args=[ids[:6]], throw=True).result
    assert set(first) == set(ids[:6])
    result = score_entries.apply(args=[ids], throw=True).result      # overlapping: no rescoring
    assert {k: result[k] for k in first} == first
    scores = {str(fs.entry_id): fs for fs in FraudScore.objects.filter(entry__in=entries)}
    assert set(scores) == set(ids) and all(scores[k].score == result[k] for k in ids)
    # the one above the alert threshold went through the alert path (alert + audit row)
    alert = Alert.objects.get(entry=entries[7])
    assert "large_amount" in alert.reasons
    assert AuditEvent.objects.filter(event_type="fraud.alert_opened",
                                     object_id=str(alert.pk)).count() == 1
    assert Alert.objects.filter(entry__in=entries).count() == sum(
        scores[k].score >= 0.5 for k in ids)
    # same features as the offline stream, and the single-entry scorer agrees with the batch
    expected = _offline(entries, [])
    assert all(_same(feature_store.snapshot(e.pk), expected[str(e.pk)]) for e in entries)
    for e in entries:
        assert model.score(e).value == pytest.approx(scores[str(e.pk)].score, abs=1e-12)


def test_concurrent_workers_on_one_account_and_merchant_lose_no_update(users):
    """Two workers score the charges of one account at one merchant at the same time: the
    state rows are locked, so every scoring sees every scoring committed before it."""
    import threading

    from django.db import connections

    from fraud.tasks import score_entry

    t0 = T0 + 40 * DAY
    specs = [(t0 + i * 600, 0, "shop-hot", 1000 + i) for i in range(20)]
    with _unscored():
        entries = [_charge(users, spec) for spec in specs]
    errors = []
    barrier = threading.Barrier(2)

    def work(mine):
        try:
            barrier.wait(timeout=30)
            for e in mine:
                score_entry(str(e.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(entries[k::2],)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    snaps = [feature_store.snapshot(e.pk) for e in entries]
    assert all(s is not None for s in snaps)
    # each scoring saw a different number of earlier ones: 0, 1, ..., 19 in some order
    assert sorted(int(s[FEATURES.index("c_cnt_30d")]) for s in snaps) == list(range(20))
    assert sorted(int(s[FEATURES.index("t_cnt_30d")]) for s in snaps) == list(range(20))
    state = json.loads(FeatureEntityState.objects.get(key="t:shop-hot").state)
    assert len(state["prior"]) == 20 and len(state["txs"]) == 20
    assert FraudScore.objects.filter(entry__in=entries).count() == 20
