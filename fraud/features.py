"""Streaming fraud features: one implementation for training, backtests and live scoring.

The features extend the handbook's standard set (Le Borgne, Siblini, Lebichot, Bontempi,
*Reproducible Machine Learning for Credit Card Fraud Detection - Practical Handbook*, ULB MLG,
ch. 3 "Baseline feature transformation": customer spending count/mean over 1/7/30 days, terminal
count and fraud risk over 1/7/30 days with a 7-day label delay; weekend and night flags) with
spending dispersion, amount ratios to the customer's known-genuine baseline, time since known
frauds and the terminal's current run of known frauds. 40 features, :data:`FEATURES`.

Pure Python (no Django, no numpy): :class:`FeatureState` keeps per-customer and per-terminal
state that is updated in O(1) amortized per transaction, so the same object serves
``manage.py train_fraud_model`` (the whole file streamed), ``fraud_score_csv`` (a backtest) and
the live scorer (its per-account and per-merchant parts kept in PostgreSQL by
:mod:`fraud.feature_store`, :meth:`FeatureState.export_entity`). The research version was
checked bit-identical to a vectorized implementation on all 584,546 handbook transactions
(``/work/research/fraud``).

Units and conventions
---------------------
* Time ``t``: integer **seconds since** :data:`ORIGIN` (2018-04-01 00:00 UTC, a Sunday; the
  handbook's ``TX_TIME_SECONDS``). Live timestamps are converted with :func:`to_seconds`. The
  stream clock must not go backwards.
* Amounts: currency units (``TX_AMOUNT``, e.g. 12.34); held internally as integer cents so every
  window sum is exact.
* A customer is the card / account, a terminal the merchant. Ids are any hashable values.
* "prior window W" of a transaction at ``t``: earlier transactions of the same entity with
  ``t - t_j < W`` (the current one excluded).
* "known-label window W": labels of transactions ``j`` of the entity with ``known_at_j <= t`` and
  ``t_j > t - (delay + W)``. With the handbook's constant delay (``known_at = t_j + 7 days``)
  this is "the W days ending 7 days ago". **A label never influences the features of a
  transaction earlier than its ``known_at``**: labels are queued and applied only when the
  stream clock reaches ``known_at``.
* Missing values (no history) are ``nan``; LightGBM handles them natively.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import math
from collections import deque
from collections.abc import Hashable

DAY = 86_400
DELAY_DAYS = 7
DELAY = DELAY_DAYS * DAY
#: Time origin of ``t``: the handbook's ``TX_TIME_SECONDS`` zero, a Sunday (weekday arithmetic).
ORIGIN = dt.datetime(2018, 4, 1, tzinfo=dt.UTC)

CUST_WINDOWS = (1, 7, 30)          # prior-window days, customer spending
TERM_WINDOWS = (1, 7, 30)          # prior-window days, terminal volume
CUST_KNOWN_WINDOWS = (7, 30)       # known-label windows, customer
TERM_KNOWN_WINDOWS = (1, 7, 30)    # known-label windows, terminal

NAN = float("nan")
#: Layout of :meth:`FeatureState.export_entity` (1: every window stored separately).
STATE_FORMAT = 2
# which entities loaded an unlabelled transaction (shared, immutable: one object per state)
_HELD = {"c": frozenset("c"), "t": frozenset("t")}
_HELD_BOTH = frozenset("ct")


def feature_names() -> list[str]:
    """The 40 feature names, in vector order."""
    f = ["amount", "hour", "is_weekend", "is_night"]
    for w in CUST_WINDOWS:
        f += [f"c_cnt_{w}d", f"c_mean_{w}d", f"c_ratio_{w}d"]
    f += ["c_std_7d", "c_std_30d", "c_z_30d", "c_secs_since_last"]
    for w in CUST_KNOWN_WINDOWS:
        f += [f"c_kn_{w}d", f"c_kf_{w}d"]
    f += ["c_legit_mean_30d", "c_legit_ratio_30d", "c_secs_since_kfraud",
          "c_secs_since_first_kfraud_30d"]
    for w in TERM_WINDOWS:
        f += [f"t_cnt_{w}d"]
    for w in TERM_KNOWN_WINDOWS:
        f += [f"t_kn_{w}d", f"t_kf_{w}d", f"t_risk_{w}d"]
    f += ["t_secs_since_kfraud", "t_last_known_fraud", "t_secs_since_run_start"]
    return f


FEATURES: list[str] = feature_names()
N_FEATURES = len(FEATURES)
#: The handbook's 15 baseline features (for ablations and explanations).
HANDBOOK_FEATURES = ["amount", "is_weekend", "is_night",
                     "c_cnt_1d", "c_mean_1d", "c_cnt_7d", "c_mean_7d", "c_cnt_30d", "c_mean_30d",
                     "t_cnt_1d", "t_risk_1d", "t_cnt_7d", "t_risk_7d", "t_cnt_30d", "t_risk_30d"]
#: How far back any window reaches (prior 30 d; known labels delay + 30 d).
MAX_WINDOW_SECONDS = max(max(CUST_WINDOWS), max(TERM_WINDOWS)) * DAY
MAX_KNOWN_SECONDS = max(max(CUST_KNOWN_WINDOWS), max(TERM_KNOWN_WINDOWS)) * DAY
# the widest window of each family: the others hold a suffix of its items (exported once)
_WIDEST_C = CUST_WINDOWS.index(max(CUST_WINDOWS))
_WIDEST_CK = CUST_KNOWN_WINDOWS.index(max(CUST_KNOWN_WINDOWS))
_WIDEST_T = TERM_WINDOWS.index(max(TERM_WINDOWS))
_WIDEST_TK = TERM_KNOWN_WINDOWS.index(max(TERM_KNOWN_WINDOWS))


def to_seconds(when: dt.datetime) -> int:
    """Integer seconds since :data:`ORIGIN` of an aware datetime (naive means UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int((when - ORIGIN).total_seconds() // 1)


def to_cents(amount: float) -> int:
    """Currency units -> integer cents (two decimals, as in the handbook data)."""
    return int(round(amount * 100))


# shared scalar formulas ------------------------------------------------------------------------
def _mean(s1: int, n: int) -> float:                 # s1 in cents -> mean in currency units
    return (s1 / n) / 100.0 if n > 0 else NAN


def _std(s1: int, s2: int, n: int) -> float:         # population std, cents -> currency units
    if n < 2:
        return NAN
    num = n * s2 - s1 * s1
    if num < 0:
        num = 0
    return math.sqrt(float(num) / float(n * n)) / 100.0


def _ratio(a: float, b: float) -> float:
    return a / b if (b == b and b > 0) else NAN


class _PriorWin:
    """Rolling window over prior transactions of one entity: count, sum and sum of squares
    of cents."""

    __slots__ = ("q", "n", "s1", "s2")

    def __init__(self) -> None:
        self.q: deque[tuple[int, int]] = deque()
        self.n = 0
        self.s1 = 0
        self.s2 = 0

    def evict(self, cutoff: int) -> None:            # drop t_j <= cutoff
        q = self.q
        while q and q[0][0] <= cutoff:
            _, c = q.popleft()
            self.n -= 1
            self.s1 -= c
            self.s2 -= c * c

    def add(self, tc: tuple[int, int]) -> None:      # (t, cents); the tuple may be shared
        c = tc[1]
        self.q.append(tc)
        self.n += 1
        self.s1 += c
        self.s2 += c * c


class _KnownWin:
    """Known labels of one entity, kept in transaction-time order (labels may arrive in any
    order): labelled count, frauds, genuine count and genuine sum of cents."""

    __slots__ = ("items", "n", "nf", "ln", "ls")

    def __init__(self) -> None:
        self.items: list[tuple] = []    # sorted (t_j, seq, fraud, cents)
        self.n = 0
        self.nf = 0
        self.ln = 0
        self.ls = 0

    def _acc(self, item: tuple, sign: int) -> None:
        _, _, f, c = item
        self.n += sign
        if f:
            self.nf += sign
        else:
            self.ln += sign
            self.ls += sign * c

    def add(self, item: tuple, cutoff: int) -> None:
        if item[0] <= cutoff:           # already outside the window
            return
        bisect.insort(self.items, item)
        self._acc(item, 1)

    @classmethod
    def of(cls, items: list) -> _KnownWin:
        """A window holding ``items`` (sorted lists or tuples, as exported; a tuple is kept,
        not copied)."""
        kw = cls()
        for it in items:
            item = tuple(it)
            kw.items.append(item)
            kw._acc(item, 1)
        return kw

    def evict(self, cutoff: int) -> None:
        items = self.items
        k = 0
        while k < len(items) and items[k][0] <= cutoff:
            self._acc(items[k], -1)
            k += 1
        if k:
            del items[:k]


class _Customer:
    __slots__ = ("prior", "known", "last_t", "last_kfraud_t")

    def __init__(self) -> None:
        self.prior = [_PriorWin() for _ in CUST_WINDOWS]
        self.known = [_KnownWin() for _ in CUST_KNOWN_WINDOWS]
        self.last_t: int | None = None
        self.last_kfraud_t: int | None = None


class _Terminal:
    __slots__ = ("prior", "known", "last_kfraud_t", "last_known_t", "last_is_fraud", "run_start")

    def __init__(self) -> None:
        self.prior: list[deque[int]] = [deque() for _ in TERM_WINDOWS]   # tx times only
        self.known = [_KnownWin() for _ in TERM_KNOWN_WINDOWS]
        self.last_kfraud_t: int | None = None
        # Label "run" state, in tx-time order of the known labels: is the most recent known
        # label a fraud, and since when has the current run of consecutive frauds lasted (a
        # compromised terminal stays compromised for weeks). Labels arriving out of tx-time
        # order are not used for the run state (the window counts use them).
        self.last_known_t: int | None = None
        self.last_is_fraud: bool | None = None
        self.run_start: int | None = None


class FeatureState:
    """Incremental feature state. Per transaction, in time order::

        x = state.features(t, customer, terminal, amount)   # list of N_FEATURES floats
        score = model(x)
        state.update(tx_id, t, customer, terminal, amount)  # after scoring
        ...
        state.add_label(tx_id, fraud, known_at)             # whenever the label is known

    ``add_label`` may be called at any moment, even with a future ``known_at``: the label is
    queued and applied once the stream clock (the largest ``t`` seen) reaches ``known_at``. A
    transaction takes the first label released for it; later ones are ignored. ``delay`` (in
    seconds, default 7 days) is where the known-label windows end: the handbook's label delay.

    Memory: per entity, the transactions of the last 30 days and the labels of the last
    ``delay`` + 30 days; unlabelled transactions are remembered until their label arrives (or
    :meth:`forget_unlabelled` drops them).
    """

    def __init__(self, delay: int = DELAY) -> None:
        self.delay = delay
        self.cust: dict[Hashable, _Customer] = {}
        self.term: dict[Hashable, _Terminal] = {}
        self.tx_info: dict[Hashable, tuple] = {}  # tx_id -> (t, customer, terminal, cents)
        self.pending: list[tuple] = []            # heap of (known_at, seq, tx_id, fraud)
        self._seq = 0
        self.now: int | None = None
        self._held: dict[Hashable, frozenset[str]] = {}  # tx_id -> entities that loaded it
        self._queued: set[tuple] | None = None    # self.pending as a set, while importing
        self._names: dict | None = None           # value -> its one object, while importing

    # labels ------------------------------------------------------------------------------------
    def add_label(self, tx_id: Hashable, fraud: bool | int, known_at: int,
                  seq: int | None = None) -> None:
        """Queue the label of a stored transaction; it counts for transactions at
        ``t >= known_at`` only.

        ``seq`` orders labels released at the same ``known_at`` (default: call order). The live
        store (:mod:`fraud.feature_store`) passes a value derived from the label itself, so
        that states saved and loaded in several processes order labels the same way."""
        if seq is None:
            seq = self._seq
            self._seq += 1
        heapq.heappush(self.pending, (known_at, seq, tx_id, 1 if fraud else 0))
        self._queued = None
        if self.now is not None and known_at <= self.now:
            self._release(self.now)

    def _release(self, t: int) -> None:
        self._queued = None
        pend = self.pending
        while pend and pend[0][0] <= t:
            _, seq, tx_id, fraud = heapq.heappop(pend)
            info = self.tx_info.pop(tx_id, None)
            if info is None:
                continue
            tj, cid, tid, c = info
            item = (tj, seq, fraud, c)
            # A state loaded entity by entity (import_entity) applies the label only to the
            # entities that still wait for it; a plain stream applies it to both.
            held = self._held.pop(tx_id, None) if self._held else None
            if held is None or "c" in held:
                cs = self._c(cid)
                for w, kw in zip(CUST_KNOWN_WINDOWS, cs.known, strict=True):
                    kw.add(item, t - self.delay - w * DAY)
                if fraud and (cs.last_kfraud_t is None or tj > cs.last_kfraud_t):
                    cs.last_kfraud_t = tj
            if held is not None and "t" not in held:
                continue
            ts = self._t(tid)
            for w, kw in zip(TERM_KNOWN_WINDOWS, ts.known, strict=True):
                kw.add(item, t - self.delay - w * DAY)
            if ts.last_known_t is None or tj >= ts.last_known_t:
                if fraud:
                    if not ts.last_is_fraud:
                        ts.run_start = tj
                    ts.last_is_fraud = True
                else:
                    ts.last_is_fraud = False
                    ts.run_start = None
                ts.last_known_t = tj
            if fraud and (ts.last_kfraud_t is None or tj > ts.last_kfraud_t):
                ts.last_kfraud_t = tj

    # persistence of one entity (the live feature store) ---------------------------------------
    def export_entity(self, kind: str, key: Hashable) -> dict:
        """The JSON-able state of customer (``kind="c"``) or terminal (``"t"``) ``key``: its
        windows, its "time since" fields, the stream clock, and the queued labels and
        unlabelled transactions of the entity's own transactions (a transaction belongs to
        both its customer and its terminal, so each keeps a copy of it).

        Layout (:data:`STATE_FORMAT` 2)::

            {"v": 2, "now": int | None,
             "prior": [[t, cents], ...] (customer) | [t, ...] (terminal),
             "known": [[t_j, seq, fraud, cents], ...],
             "txs": [[tx_id, t, other, cents], ...],  # other: the terminal of a customer's
                                                      # transaction, the customer of a terminal's
             "pending": [[known_at, seq, tx_id, fraud], ...], ...the "time since" fields}

        Each window family is stored once, as its widest window (the 1- and 7-day windows are
        suffixes of the 30-day one, rebuilt on import) without what the next read would evict,
        and the entity's own id is not repeated in its transactions. Ids must be JSON scalars
        (str / int). :meth:`import_entity` is the inverse (and still reads the format-1 states
        of earlier releases); a state built by importing the entities of a transaction computes
        its features exactly as the full stream would (``tests/fraud/test_feature_store.py``,
        ``test_feature_store_stream.py``)."""
        return self.export_entities([(kind, key)])[0]

    def export_entities(self, wanted: list[tuple[str, Hashable]]) -> list[dict]:
        """:meth:`export_entity` of several ``(kind, key)`` at once (one pass over the queued
        labels and unlabelled transactions)."""
        want = set(wanted)
        held = self._held
        txs: dict[tuple[str, Hashable], dict] = {w: {} for w in wanted}
        for tx_id, info in self.tx_info.items():
            h = held.get(tx_id)
            for kind, slot in (("c", 1), ("t", 2)):
                w = (kind, info[slot])
                if w in want and (h is None or kind in h):
                    txs[w][tx_id] = info
        pend: dict[Hashable, list] = {}
        for k, s, tx_id, f in self.pending:
            pend.setdefault(tx_id, []).append([k, s, tx_id, f])
        return [self._export(kind, key, txs[(kind, key)], pend) for kind, key in wanted]

    def _export(self, kind: str, key: Hashable, mine: dict, pend: dict) -> dict:
        now = self.now
        pending = [item for tx_id in mine for item in pend.get(tx_id, ())]
        other = 2 if kind == "c" else 1          # the slot of the other entity in tx_info
        txs = [[tx_id, info[0], info[other], info[3]] for tx_id, info in mine.items()]
        # what the next read evicts anyway is left out (the clock never goes back)
        prior_cut = -math.inf if now is None else now - MAX_WINDOW_SECONDS
        known_cut = -math.inf if now is None else now - self.delay - MAX_KNOWN_SECONDS
        if kind == "c":
            cs = self.cust.get(key) or _Customer()
            return {"v": STATE_FORMAT, "now": now, "pending": pending, "txs": txs,
                    "prior": [tc for tc in cs.prior[_WIDEST_C].q if tc[0] > prior_cut],
                    "known": [it for it in cs.known[_WIDEST_CK].items if it[0] > known_cut],
                    "last_t": cs.last_t, "last_kfraud_t": cs.last_kfraud_t}
        ts = self.term.get(key) or _Terminal()
        return {"v": STATE_FORMAT, "now": now, "pending": pending, "txs": txs,
                "prior": [t for t in ts.prior[_WIDEST_T] if t > prior_cut],
                "known": [it for it in ts.known[_WIDEST_TK].items if it[0] > known_cut],
                "last_kfraud_t": ts.last_kfraud_t, "last_known_t": ts.last_known_t,
                "last_is_fraud": ts.last_is_fraud, "run_start": ts.run_start}

    def import_entity(self, kind: str, key: Hashable, data: dict) -> None:
        """Load an entity exported by :meth:`export_entity` (JSON round trip allowed; format 2
        or the format 1 of earlier releases, which kept every window separately). Call it for
        every entity first, then read features: the clock becomes the latest of the imported
        clocks, and queued labels are released on the next :meth:`advance`.

        Cost: O(size of the entity's state); the objects of one transaction (its id, its
        labels' tuples, the windows' items) are shared, not copied per window."""
        v2 = data.get("v") == STATE_FORMAT
        now = data["now"]
        base = -math.inf if now is None else now      # an entity never advanced is empty
        # One object per value while importing: JSON repeats a transaction's id, time and
        # amount in each part of a state and in both of its entities.
        if self._names is None:
            self._names = {}
        same = self._names.setdefault
        if v2:
            kitems = [(same(t, t), same(s, s), f, same(c, c)) for t, s, f, c in data["known"]]

            def known(cut: int) -> _KnownWin:    # the items of one window share kitems' tuples
                return _KnownWin.of([it for it in kitems if it[0] > cut])
        if kind == "c":
            cs = self.cust[key] = _Customer()
            if v2:
                series = [(same(t, t), same(c, c)) for t, c in data["prior"]]
                for w, pw in zip(CUST_WINDOWS, cs.prior, strict=True):
                    cut = base - w * DAY
                    for tc in series:
                        if tc[0] > cut:
                            pw.add(tc)
                cs.known = [known(base - self.delay - w * DAY) for w in CUST_KNOWN_WINDOWS]
            else:
                for pw, q in zip(cs.prior, data["prior"], strict=True):
                    for t, c in q:
                        pw.add((t, c))
                cs.known = [_KnownWin.of(items) for items in data["known"]]
            cs.last_t, cs.last_kfraud_t = data["last_t"], data["last_kfraud_t"]
        else:
            ts = self.term[key] = _Terminal()
            if v2:
                times = [same(t, t) for t in data["prior"]]
                ts.prior = [deque(t for t in times if t > base - w * DAY) for w in TERM_WINDOWS]
                ts.known = [known(base - self.delay - w * DAY) for w in TERM_KNOWN_WINDOWS]
            else:
                ts.prior = [deque(q) for q in data["prior"]]
                ts.known = [_KnownWin.of(items) for items in data["known"]]
            ts.last_kfraud_t, ts.last_known_t = data["last_kfraud_t"], data["last_known_t"]
            ts.last_is_fraud, ts.run_start = data["last_is_fraud"], data["run_start"]
        tx_info, held, one = self.tx_info, self._held, _HELD[kind]
        for row in data["txs"]:
            if v2:
                tx_id, t, other, c = row
                other = same(other, other)
                info = (same(t, t), key, other, same(c, c)) if kind == "c" else (
                    same(t, t), other, key, same(c, c))
            else:
                tx_id, t, cid, tid, c = row
                info = (t, same(cid, cid), same(tid, tid), c)
            tx_id = same(tx_id, tx_id)
            tx_info.setdefault(tx_id, info)
            h = held.get(tx_id)
            held[tx_id] = one if h is None else h if one <= h else _HELD_BOTH
        queued = self._queued
        if queued is None:                       # rebuilt only after the heap changed
            queued = self._queued = set(self.pending)
        for k, s, tx_id, f in data["pending"]:
            item = (same(k, k), same(s, s), same(tx_id, tx_id), f)
            if item not in queued:
                heapq.heappush(self.pending, item)
                queued.add(item)
        if now is not None and (self.now is None or now > self.now):
            self.now = now

    def forget_unlabelled(self, before: int) -> None:
        """Drop unlabelled transactions older than ``before`` (their labels will never count)."""
        for tx_id in [k for k, v in self.tx_info.items() if v[0] < before]:
            del self.tx_info[tx_id]

    # helpers -----------------------------------------------------------------------------------
    def _c(self, cid: Hashable) -> _Customer:
        s = self.cust.get(cid)
        if s is None:
            s = self.cust[cid] = _Customer()
        return s

    def _t(self, tid: Hashable) -> _Terminal:
        s = self.term.get(tid)
        if s is None:
            s = self.term[tid] = _Terminal()
        return s

    def advance(self, t: int) -> None:
        """Move the stream clock to ``t`` (never backwards) and release labels now known."""
        if self.now is not None and t < self.now:
            raise ValueError("stream clock went backwards")
        self.now = t
        self._names = None                        # the import phase is over
        if self.pending and self.pending[0][0] <= t:
            self._release(t)

    # features ----------------------------------------------------------------------------------
    def features(self, t: int, customer: Hashable, terminal: Hashable,
                 amount: float) -> list[float]:
        """Feature vector (``N_FEATURES`` floats, order :data:`FEATURES`) of a transaction at
        ``t`` from the state before it. Advances the clock; does not store the transaction."""
        self.advance(t)
        c = to_cents(amount)
        amt = c / 100.0
        sod = t % DAY
        out = [amt, sod / 3600.0,
               1.0 if ((t // DAY) + 6) % 7 >= 5 else 0.0,      # day 0 = Sunday 2018-04-01
               1.0 if sod < 7 * 3600 else 0.0]                  # handbook: hour <= 6
        cs = self._c(customer)
        means = []
        for w, pw in zip(CUST_WINDOWS, cs.prior, strict=True):
            pw.evict(t - w * DAY)
            m = _mean(pw.s1, pw.n)
            means.append(m)
            out += [float(pw.n), m, _ratio(amt, m)]
        p7 = cs.prior[CUST_WINDOWS.index(7)]
        p30 = cs.prior[CUST_WINDOWS.index(30)]
        sd30 = _std(p30.s1, p30.s2, p30.n)
        m30 = means[CUST_WINDOWS.index(30)]
        out += [_std(p7.s1, p7.s2, p7.n), sd30,
                (amt - m30) / sd30 if (sd30 == sd30 and sd30 > 0) else NAN,
                float(t - cs.last_t) if cs.last_t is not None else NAN]
        for w, kw in zip(CUST_KNOWN_WINDOWS, cs.known, strict=True):
            kw.evict(t - self.delay - w * DAY)
            out += [float(kw.n), float(kw.nf)]
        k30 = cs.known[CUST_KNOWN_WINDOWS.index(30)]
        lm = _mean(k30.ls, k30.ln)
        first_f = next((it[0] for it in k30.items if it[2]), None)
        out += [lm, _ratio(amt, lm),
                float(t - cs.last_kfraud_t) if cs.last_kfraud_t is not None else NAN,
                float(t - first_f) if first_f is not None else NAN]
        ts = self._t(terminal)
        for w, q in zip(TERM_WINDOWS, ts.prior, strict=True):
            cut = t - w * DAY
            while q and q[0] <= cut:
                q.popleft()
            out.append(float(len(q)))
        for w, kw in zip(TERM_KNOWN_WINDOWS, ts.known, strict=True):
            kw.evict(t - self.delay - w * DAY)
            out += [float(kw.n), float(kw.nf), kw.nf / kw.n if kw.n > 0 else NAN]
        out.append(float(t - ts.last_kfraud_t) if ts.last_kfraud_t is not None else NAN)
        if ts.last_is_fraud is None:
            out += [NAN, NAN]
        else:
            out += [1.0 if ts.last_is_fraud else 0.0,
                    float(t - ts.run_start) if ts.last_is_fraud else NAN]
        return out

    def update(self, tx_id: Hashable, t: int, customer: Hashable, terminal: Hashable,
               amount: float) -> None:
        """Store the transaction (after :meth:`features` and scoring)."""
        self.advance(t)
        c = to_cents(amount)
        cs = self._c(customer)
        tc = (t, c)                              # one tuple shared by the windows
        for pw in cs.prior:
            pw.add(tc)
        cs.last_t = t
        ts = self._t(terminal)
        for q in ts.prior:
            q.append(t)
        self.tx_info[tx_id] = (t, customer, terminal, c)
