"""Bounds on a scoring worker's memory (docs/reliability.md, "Worker memory"): a relay backlog
becomes scoring tasks of bounded size, writing a batch's feature states back holds one entity's
exported dict at a time, and worker processes hand freed heap pages back to the OS after each
task."""

from __future__ import annotations

import ctypes
import gc
import json
import tracemalloc
import uuid

import pytest
from celery import signals

from creditplatform import celery as celery_module
from creditplatform.webhooks.models import OutboxMessage
from creditplatform.webhooks.outbox import outbox_put, outbox_relay
from fraud.feature_store import EntityBatch
from fraud.features import DAY, FeatureState
from fraud.receivers import SCORE_TOPIC

pytestmark = pytest.mark.django_db(transaction=True)


def _score_rows(n: int) -> list[str]:
    """``n`` undispatched scoring rows (ids of entries that need not exist: the task is
    replaced by a recorder)."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for entry_id in ids:
        outbox_put(topic=SCORE_TOPIC, args=[entry_id], nudge=False)
    return ids


@pytest.mark.parametrize(("task_max", "sizes"), [(None, [100, 100, 50]),
                                                 (64, [64, 64, 64, 58])])
def test_a_relay_backlog_becomes_scoring_tasks_of_bounded_size(settings, monkeypatch,
                                                               task_max, sizes):
    from fraud.tasks import score_entries

    if task_max is not None:
        settings.OUTBOX_BATCH_TASK_MAX = task_max
    calls: list[list[str]] = []
    monkeypatch.setattr(score_entries, "apply_async",
                        lambda args=None, kwargs=None, **_: calls.append(list(args[0])))
    ids = _score_rows(250)

    assert outbox_relay() == 250                       # one relay run takes the whole backlog
    assert [len(c) for c in calls] == sizes            # ... as tasks of at most task_max rows
    assert sorted(i for c in calls for i in c) == sorted(ids)   # each row exactly once
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def _synthetic_states(n_entities: int, per_entity: int) -> dict[str, str]:
    """States as the store keeps them: ``n_entities`` accounts and as many merchants, each with
    ``per_entity`` transactions of the last day whose labels are pending ({key: JSON text})."""
    st = FeatureState()
    accounts = [str(uuid.UUID(int=10**6 + i)) for i in range(n_entities)]
    merchants = [f"shop-{i}" for i in range(n_entities)]
    t = 80 * DAY
    for i in range(per_entity * n_entities):
        t += 7
        tx = str(uuid.UUID(int=i + 1))
        args = (accounts[i % n_entities], merchants[(i // n_entities) % n_entities], 12.5)
        st.features(t, *args)
        st.update(tx, t, *args)
        st.add_label(tx, 0, t + st.delay, seq=t)
    wanted = [("c", a) for a in accounts] + [("t", m) for m in merchants]
    return {f"{kind}:{key}": json.dumps(data, separators=(",", ":"))
            for (kind, key), data in zip(wanted, st.export_entities(wanted), strict=True)}


def test_writing_a_batch_back_holds_one_entity_dict_at_a_time():
    """The export serialises each entity's state and drops its dict at once: at its peak it
    holds little more than the JSON it returns (all the dicts and all the JSON: twice)."""
    batch = EntityBatch(_synthetic_states(20, 300))
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        states = batch.export()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    size = sum(len(text) for _, text, _ in states)
    assert size > 1_000_000
    assert peak < 1.7 * size
    assert [json.loads(text) for _, text, _ in states] == [
        json.loads(text) for _, text, _ in EntityBatch(dict(
            (k, t) for k, t, _ in states)).export()]             # a lossless round trip


def test_a_loaded_batch_shares_each_transactions_objects():
    """Loading states keeps one object per transaction id, time, amount and label, shared by
    the windows and by the two entities that hold the transaction (format 2 stores each
    window family once): the loaded batch stays under 3 times its JSON, where the format-1
    layout loaded separately per window took 4 times (``docs/reliability.md``)."""
    states = _synthetic_states(20, 300)
    size = sum(map(len, states.values()))
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        batch = EntityBatch(states)
        loaded = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(batch.st.tx_info) == 20 * 300
    assert loaded < 3 * size
    ids = {id(tx) for tx in batch.st.tx_info}
    assert all(id(item[2]) in ids for item in batch.st.pending)   # one object per id


@pytest.mark.skipif(celery_module._trim is None, reason="needs glibc's malloc_trim")
def test_worker_processes_return_freed_heap_pages_after_each_task(settings):
    uid = "creditplatform.celery.release_free_memory"

    def connected(signal, dispatch_uid):
        return any(key[0] == dispatch_uid for key, _ in signal.receivers)

    # `celery worker` sends worker_init once, before its pool forks (sending it here would
    # install Celery's Django worker fixup in the test process: call the receiver instead)
    assert connected(signals.worker_init, "creditplatform.celery.trim")
    assert not connected(signals.task_postrun, uid)    # never in web processes or eager tasks
    try:
        settings.WORKER_MALLOC_TRIM = False
        celery_module._connect_trim()
        assert not connected(signals.task_postrun, uid)
        settings.WORKER_MALLOC_TRIM = True
        celery_module._connect_trim()
        assert connected(signals.task_postrun, uid)
    finally:
        signals.task_postrun.disconnect(dispatch_uid=uid)

    # What it does: 64 MiB of freed blocks below a live one stay resident until trimmed.
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(4096) for _ in range(16384)]
    for p in blocks:
        ctypes.memset(p, 1, 4096)                      # touch the pages
    pin = libc.malloc(4096)                            # keeps the top of the heap in use
    for p in blocks:
        libc.free(p)
    before = _rss_kib()
    assert celery_module.release_free_memory() is True
    assert before - _rss_kib() > 48 * 1024
    libc.free(pin)


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
