"""The live fraud feature store: :class:`fraud.features.FeatureState`, kept per entity in
PostgreSQL and moved forward by the scoring transaction.

One feature definition serves training, backtests and live scoring: ``train_fraud_model`` and
``fraud_score_csv`` stream a file through one in-memory ``FeatureState``; live scoring keeps the
same state split by entity (:class:`fraud.aggregates.FeatureEntityState`, one row per credit
account ``c:<id>`` and per merchant ``t:<merchant>``). To score an entry the worker

1. locks and loads the rows of the entry's account and merchant (one indexed primary-key read,
   ``FOR UPDATE`` in key order, so concurrent scorings of one account or merchant serialise and
   never deadlock);
2. reads, in one statement, the entry's :class:`~fraud.aggregates.FeatureSnapshot` (already
   scored: those features are returned and nothing moves) and the fed-back labels
   (``fraud.models.FraudLabel``) of the entity's transactions still waiting for a label;
3. imports both entities into a ``FeatureState`` (``FeatureState.import_entity``), calls
   ``features`` then ``update`` exactly as the offline stream does, queues the entry's
   default label (genuine, known one label delay after it: the handbook's convention that a
   fraud not reported within the delay is genuine) and any fed-back label (counting from the
   second after its ``known_at``, as ``fraud_score_csv --feedback`` does);
4. writes both entities and the snapshot back in one statement, inside the caller's
   transaction (the one that upserts the :class:`~fraud.models.FraudScore`), so a rolled-back
   scoring leaves the state untouched and a second scoring reads the snapshot.

Cost per entry: three statements and O(size of the two entities' 30-day windows) of Python, with
no read of the journal: the work does not grow with an account's or merchant's history beyond
the windows the features are defined on. Memory follows the same size: a batch holds the
states of every account and merchant it touches, under three times their JSON text as Python
objects (state format 2 stores each window family once, and an import shares one object per
transaction id, time and amount; format 1 took four times), and frees them when it ends. A
worker's peak follows the largest batch state it loaded, and CPython's allocator keeps the
pages of that peak; scoring tasks carry at most ``OUTBOX_BATCH_TASK_MAX`` (100) entries.
``bench/worker_memory.py`` measures a worker's memory under the soak's load
(``docs/reliability.md``, "Worker memory").
``tests/fraud/test_feature_store.py`` (through the scoring task, on PostgreSQL) and
``test_feature_store_stream.py`` (the 6,676 handbook transactions of ``data/``) prove that the
store gives bit-identical features to the offline stream for the same transactions and labels,
and that a label known later never changes an earlier entry's features.

Semantics to know:

* Time is the entry's ``occurred_at`` (seconds since :data:`fraud.features.ORIGIN`). An entry
  older than its account's or merchant's stream clock (scored out of order, e.g. two workers
  racing on one merchant) is scored at that clock (seconds later than its own time): the state
  never goes back.
* A transaction takes the first label released for it (``FeatureState``'s rule): a fed-back
  label counts if it is known before the default genuine label (within the label delay); one
  released in the same second as the default wins, and one known before its own transaction
  never counts (both as offline, where fed-back labels are queued before the stream).
* A transaction with several fed-back labels (``FraudLabel``) counts the first one known, not
  the latest; a correction after the first label is not applied to the features.
* The state assumes the model's label delay (7 days); :func:`rebuild` recomputes it from the
  journal (after a change of delay, or to start the store on existing history).

Limits: a merchant's row is locked by every scoring at that merchant (scorings of one merchant
run one after another), and every scoring reads, parses and rewrites the whole state of its
account and merchant: each transaction of the last 30 days and each label of the last 37
(about 170 bytes of JSON per transaction while its label is pending, fewer after; measured
with ``bench/worker_memory.py``: 340 kB for the busiest merchant after 9 minutes, about 2,000
transactions; state format 1 took 406 kB). For
merchants with tens of thousands of transactions a month, per-minute buckets of the terminal
counts would bound both, at the price of a changed feature definition (and a retrained model).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, transaction

from creditplatform.db_routers import worker_db_alias
from fraud.features import DELAY, FeatureState, to_seconds

#: ``seq`` of every fed-back label: at one release second, before the default labels
#: (whose ``seq`` is their transaction's time, never negative).
FEEDBACK_SEQ = -1

# The statements (table names are fraud.aggregates' and fraud.models.FraudLabel's db_table).
_LOCK = ("SELECT key, state FROM fraud_featureentitystate WHERE key = ANY(%s) "
         "ORDER BY key FOR UPDATE")
_CREATE = ("INSERT INTO fraud_featureentitystate (key, state, clock) "
           "SELECT k, '', 0 FROM unnest(%s::text[]) AS k ON CONFLICT (key) DO NOTHING")
_SNAPSHOTS = ("SELECT 's', entry_id::text, features, 0 FROM fraud_featuresnapshot "
              "WHERE entry_id = ANY(%s::uuid[])")
# known_at as stream seconds (ORIGIN 2018-04-01 00:00 UTC is Unix time 1522540800)
_SNAPSHOTS_AND_LABELS = ("SELECT 's', entry_id::text, features, 0 FROM fraud_featuresnapshot "
                         "WHERE entry_id = ANY(%s::uuid[]) "
                         "UNION ALL SELECT 'l', entry_id::text, is_fraud::int::text, "
                         "floor(extract(epoch FROM known_at))::bigint - 1522540800 "
                         "FROM fraud_fraudlabel WHERE entry_id = ANY(%s::uuid[])")
# One JSON document of the rows (json.dumps is C; a text[] parameter would be escaped element
# by element in Python): {"s": [[key, state, clock], ...], "f": [[entry id, features, t], ...]}
_WRITE = ("WITH d AS (SELECT %s::json AS d), "
          "s AS (INSERT INTO fraud_featureentitystate (key, state, clock) "
          "SELECT r->>0, r->>1, (r->>2)::bigint FROM d, json_array_elements(d->'s') AS r "
          "ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, clock = EXCLUDED.clock) "
          "INSERT INTO fraud_featuresnapshot (entry_id, features, t) "
          "SELECT (r->>0)::uuid, r->>1, (r->>2)::bigint FROM d, json_array_elements(d->'f') AS r")


def _has_labels() -> bool:
    try:
        from fraud.models import FraudLabel
    except ImportError:  # pragma: no cover - the label feedback model is not installed
        return False
    return FraudLabel._meta.db_table == "fraud_fraudlabel"


def customer_key(entry: Any) -> str:
    """The state row of the entry's customer (its credit account)."""
    return f"c:{entry.account_id}"


def terminal_key(entry: Any) -> str | None:
    """The state row of the entry's terminal (its merchant); None without a merchant."""
    return f"t:{entry.merchant}" if entry.merchant else None


def entry_features(entry: Any, *, delay: int = DELAY) -> list[float]:
    """Feature vector (:data:`fraud.features.FEATURES` order) of one committed journal entry
    from the store, moving the store past it. Idempotent: an entry already featurised returns
    the stored vector. Runs in the caller's transaction on :func:`worker_db_alias` (or its
    own). ``entry`` needs ``pk``, ``account_id``, ``merchant``, ``amount`` (minor units) and
    ``occurred_at``."""
    return entries_features([entry], delay=delay)[0]


def entries_features(entries: Sequence[Any], *, delay: int = DELAY) -> list[list[float]]:
    """:func:`entry_features` of several entries at once (one lock, one label read and one
    write for the batch); features are returned in the order of ``entries``. Entries are
    applied in ``(occurred_at, id)`` order."""
    if not entries:
        return []
    alias = worker_db_alias()
    with transaction.atomic(using=alias, savepoint=False):
        return _entries_features(connections[alias], entries, delay)


def _lock_states(cur: Any, keys: list[str]) -> dict[str, str]:
    """Lock the state rows of ``keys`` (``FOR UPDATE``, in key order), creating absent ones;
    ``{key: state JSON text}``."""
    cur.execute(_LOCK, [keys])
    rows = dict(cur.fetchall())
    if len(rows) < len(keys):
        # Absent rows cannot be locked: create them empty (a concurrent creator makes this wait
        # for its commit), then lock all of them.
        missing = [k for k in keys if k not in rows]
        cur.execute(_CREATE, [missing])
        cur.execute(_LOCK, [keys])
        rows = dict(cur.fetchall())
    return rows


class EntityBatch:
    """The pure part of a scoring transaction (no database): the stored states of some
    entities in, features of transactions and the new states out. :func:`entries_features`
    wraps it with the SQL; ``tests/fraud/test_feature_store_stream.py`` runs it over the
    handbook sample one transaction at a time against the offline stream.

    ``states``: state key (``c:<customer>`` / ``t:<terminal>``) -> JSON text of
    :meth:`FeatureState.export_entity` (or ``""``: a new entity).
    """

    def __init__(self, states: dict[str, str], *, delay: int = DELAY) -> None:
        self.delay = delay
        self.keys = sorted(states)
        self.st = FeatureState(delay=delay)
        for key, text in states.items():
            if text:
                self.st.import_entity(key[0], key[2:], json.loads(text))

    def waiting(self) -> list[Any]:
        """Transactions of these entities still waiting for their label."""
        return [tx for tx in self.st.tx_info if isinstance(tx, str | int)]

    def add_label(self, tx_id: Any, fraud: int, known_at: int) -> None:
        """A fed-back label known at ``known_at`` (seconds): counts from the second after, as
        ``fraud_score_csv --feedback`` does, with the offline stream's two edge rules:

        * released in the same second as the transaction's default genuine label, the fed-back
          label wins (offline, fed-back labels are queued first): its ``seq`` (-1) sorts before
          every default label's (the transaction time, >= 0);
        * released at or before its own transaction (a ``known_at`` earlier than the
          transaction, e.g. another clock), it never counts: offline it is released while the
          transaction is not yet stored and dropped; here the transaction, already stored by
          an earlier batch, would otherwise take it."""
        info = self.st.tx_info.get(tx_id)
        if info is not None and known_at + 1 <= info[0]:
            return
        self.st.add_label(tx_id, fraud, known_at + 1, seq=FEEDBACK_SEQ)

    def features(self, tx_id: Any, t: int, customer: str, terminal: str | None,
                 amount: float) -> tuple[list[float], int]:
        """Features of a transaction (``amount`` in currency units, ``terminal`` None when it
        has none), then the transaction is stored with its default label (genuine, known one
        label delay later). Returns the features and the time used (never before the
        entities' clock: an entry scored out of order is scored at that clock)."""
        st = self.st
        if st.now is not None and t < st.now:
            t = st.now
        tid = terminal if terminal is not None else f"\x00{tx_id}"
        x = st.features(t, customer, tid, amount)
        st.update(tx_id, t, customer, tid, amount)
        st.add_label(tx_id, 0, t + self.delay, seq=t)     # genuine unless reported in time
        return x, t

    def export(self) -> list[tuple[str, str, int]]:
        """(key, JSON text, clock) of every entity of the batch.

        Each entity's exported dict is released as soon as it is serialised: a batch's peak
        memory is its loaded state plus about one copy of the exported text, not two."""
        wanted = [(key[0], key[2:]) for key in self.keys]
        exported: list[dict | None] = list(self.st.export_entities(wanted))
        out = []
        for i, key in enumerate(self.keys):
            data, exported[i] = exported[i], None
            out.append((key, json.dumps(data, separators=(",", ":")), data["now"] or 0))
        return out


def _entries_features_portable(conn: Any, entries: Sequence[Any],
                               delay: int) -> list[list[float]]:
    """The same three steps through the ORM, for databases other than PostgreSQL (the SQLite
    demo: its transactions take the database write lock, so ``FOR UPDATE`` is not needed)."""
    from fraud.aggregates import FeatureEntityState, FeatureSnapshot

    alias = conn.alias
    keys = sorted({k for e in entries for k in (customer_key(e), terminal_key(e)) if k})
    states = dict(FeatureEntityState.objects.using(alias).filter(key__in=keys)
                  .values_list("key", "state"))
    batch = EntityBatch({k: states.get(k, "") for k in keys}, delay=delay)
    ids = [str(e.pk) for e in entries]
    done: dict[str, list[float]] = {
        str(entry_id): json.loads(features) for entry_id, features in
        FeatureSnapshot.objects.using(alias).filter(entry_id__in=ids)
        .values_list("entry_id", "features")}
    if _has_labels():
        from fraud.models import FraudLabel

        wanted = [str(t) for t in batch.waiting()] + ids
        for entry_id, is_fraud, known_at in (FraudLabel.objects.using(alias)
                                             .filter(entry_id__in=wanted)
                                             .values_list("entry_id", "is_fraud", "known_at")):
            batch.add_label(str(entry_id), int(is_fraud), to_seconds(known_at))
    todo = sorted((e for e in entries if str(e.pk) not in done),
                  key=lambda e: (e.occurred_at, str(e.pk)))
    snapshots = []
    for e in todo:
        tx_id = str(e.pk)
        x, t = batch.features(tx_id, to_seconds(e.occurred_at), str(e.account_id),
                              e.merchant or None, e.amount / 100.0)
        done[tx_id] = x
        snapshots.append(FeatureSnapshot(entry_id=e.pk, features=json.dumps(x), t=t))
    if todo:
        FeatureEntityState.objects.using(alias).bulk_create(
            [FeatureEntityState(key=k, state=text, clock=clock)
             for k, text, clock in batch.export()],
            update_conflicts=True, unique_fields=["key"], update_fields=["state", "clock"])
        FeatureSnapshot.objects.using(alias).bulk_create(snapshots)
    return [done[i] for i in ids]


def _entries_features(conn: Any, entries: Sequence[Any], delay: int) -> list[list[float]]:
    if conn.vendor != "postgresql":
        return _entries_features_portable(conn, entries, delay)
    keys = sorted({k for e in entries for k in (customer_key(e), terminal_key(e)) if k})
    with conn.cursor() as cur:
        batch = EntityBatch(_lock_states(cur, keys), delay=delay)
        ids = [str(e.pk) for e in entries]
        # labels of the transactions still waiting for one, and of the entries being scored
        # (they count for later entries of the batch once known)
        if _has_labels():
            cur.execute(_SNAPSHOTS_AND_LABELS, [ids, [str(t) for t in batch.waiting()] + ids])
        else:
            cur.execute(_SNAPSHOTS, [ids])
        done: dict[str, list[float]] = {}
        for kind, tx_id, value, known in cur.fetchall():
            if kind == "s":
                done[tx_id] = json.loads(value)
            else:
                batch.add_label(tx_id, int(value), int(known))
        todo = sorted((e for e in entries if str(e.pk) not in done),
                      key=lambda e: (e.occurred_at, str(e.pk)))
        if not todo:
            return [done[i] for i in ids]
        snapshots: list[list[Any]] = []
        for e in todo:
            tx_id = str(e.pk)
            x, t = batch.features(tx_id, to_seconds(e.occurred_at), str(e.account_id),
                                  e.merchant or None, e.amount / 100.0)
            done[tx_id] = x
            snapshots.append([tx_id, json.dumps(x), t])
        states = batch.export()
        del batch  # the loaded state (several times its JSON size) is not needed to write
        cur.execute(_WRITE, [json.dumps({"s": states, "f": snapshots})])
    return [done[i] for i in ids]


def snapshot(entry_id: Any) -> list[float] | None:
    """The features an entry was scored with, or None if it was not featurised."""
    from fraud.aggregates import FeatureSnapshot

    text = FeatureSnapshot.objects.filter(entry_id=entry_id).values_list(
        "features", flat=True).first()
    return None if text is None else json.loads(text)


def reset() -> None:
    """Empty the store (every state and snapshot); :func:`rebuild` fills it again."""
    from fraud.aggregates import FeatureEntityState, FeatureSnapshot

    with transaction.atomic(using=worker_db_alias()):
        FeatureSnapshot.objects.all().delete()
        FeatureEntityState.objects.all().delete()


def rebuild(*, entries: Iterable[Any] | None = None, batch: int = 500,
            delay: int = DELAY) -> int:
    """Feed the store from the journal in time order (charges and captures by default, or
    the given entries): to start it on existing history, or after :func:`reset`. Entries
    already featurised are skipped (idempotent). Returns the number of entries read."""
    from ledger.models import JournalEntry

    if entries is None:
        entries = (JournalEntry.objects
                   .filter(kind__in=[JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE])
                   .only("id", "account_id", "merchant", "amount", "occurred_at")
                   .order_by("occurred_at", "id").iterator(chunk_size=batch))
    n = 0
    chunk: list[Any] = []
    for e in entries:
        chunk.append(e)
        if len(chunk) >= batch:
            entries_features(chunk, delay=delay)
            n += len(chunk)
            chunk = []
    if chunk:
        entries_features(chunk, delay=delay)
        n += len(chunk)
    return n
