"""Property test: any sequence of ledger service calls keeps the books right.

A Hypothesis rule-based state machine calls the services directly (charge, payment,
authorization create/capture/void, expiry, refund, reversal) on two fresh credit accounts per
example, with amounts that are sometimes invalid, holds that are sometimes closed or expired,
entries that are sometimes refunded or reversed already. A small model of the rules predicts
every answer: the exact refusal (``ApplicationError`` subclass) or the balance change. After
every step:

* ``verify_ledger()`` is empty, and the deferred double-entry triggers pass (``SET CONSTRAINTS
  ALL IMMEDIATE`` fires them as a commit would);
* each account's ``available`` is >= 0, ``posted`` equals the sum of its receivable postings
  and the model, ``pending`` equals the sum of its open holds and the model;
* every hold's status and every entry's existence match the model.

The ledger tables are append-only (triggers refuse DELETE and TRUNCATE), so examples are not
cleaned up by deleting: each example opens its own accounts inside a savepoint of the test's
transaction and is rolled back to it afterwards. Deterministic: a fixed seed
(``LEDGER_PROPERTY_SEED`` to change it, printed), no example database.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from creditplatform.errors import ApplicationError
from ledger import services
from ledger.exceptions import (
    AlreadyCaptured,
    AlreadyReversed,
    CaptureExceedsHold,
    HoldExpired,
    HoldNotOpen,
    InsufficientCredit,
    InvalidAmount,
    NotRefundable,
    PaymentExceedsBalance,
    RefundExceedsCharge,
    ReversalNotAllowed,
)
from ledger.models import Hold, JournalEntry
from ledger.preauth import APPROVE, PreauthDecision
from ledger.verification import verify_ledger
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

SEED = int(os.environ.get("LEDGER_PROPERTY_SEED", "4242"))
LIMITS = (5_000, 3_000)  # small lines, so refusals for credit are common
TTLS = (60, 3_600, None)  # None: the default (LEDGER_HOLD_TTL_SECONDS, 7 days)
EXPIRY_OFFSETS = (0, 90, 4_000, 8 * 86_400)  # seconds from now that holds_expire looks at
# Shrinking a failure can take minutes (every step re-runs verify_ledger); a failing run
# prints its (at most 20-step) sequence unshrunk unless LEDGER_PROPERTY_SHRINK=1.
SHRINK = bool(os.environ.get("LEDGER_PROPERTY_SHRINK"))
PHASES = tuple(p for p in Phase if SHRINK or p not in (Phase.shrink, Phase.explain))
AMOUNTS = st.integers(-2, 2_500)  # mostly valid; zero and negatives must be refused


def approve_all(request: Any) -> PreauthDecision:
    """Pre-authorization for this test: the ledger alone (fraud rules are tested elsewhere)."""
    return PreauthDecision(decision=APPROVE, reasons=[])


@dataclass
class MAccount:
    pk: Any
    limit: int
    posted: int = 0
    pending: int = 0

    @property
    def available(self) -> int:
        return self.limit - self.posted - self.pending


@dataclass
class MHold:
    pk: Any
    account: int
    amount: int
    expires_at: dt.datetime
    status: str = "open"
    captured: int = 0


@dataclass
class MEntry:
    pk: Any
    kind: str
    account: int
    amount: int
    receivable: int  # this entry's posting on the cardholder's receivable (+ debit, - credit)
    refunded: int = 0
    reversed: bool = False


@dataclass
class Outcome:
    """What the model expects: a refusal class, or success (``None``)."""

    refusal: type[ApplicationError] | None = None


@dataclass
class Context:
    operator: Any = None
    steps: int = 0
    examples: int = 0
    refusals: dict[str, int] = field(default_factory=dict)


CTX = Context()


class LedgerMachine(RuleBasedStateMachine):
    """Two credit accounts, their holds and entries, and the model's view of them."""

    @initialize()
    def open_accounts(self) -> None:
        # Each example runs in a savepoint of the test's transaction and is rolled back after
        # it (no DELETE, which the append-only triggers refuse): every example starts from an
        # empty ledger, so global checks (verify_ledger, holds_expire's count) stay exact.
        self.savepoint = transaction.savepoint()
        CTX.examples += 1
        self.holders = [CustomerFactory(credit_limit=limit) for limit in LIMITS]
        self.accounts = [MAccount(h.credit_accounts.get().pk, limit)
                         for h, limit in zip(self.holders, LIMITS, strict=True)]
        self.holds: list[MHold] = []
        self.entries: list[MEntry] = []

    def teardown(self) -> None:
        if hasattr(self, "savepoint"):
            transaction.savepoint_rollback(self.savepoint)

    # --- running a call against the model ---------------------------------------------------

    def call(self, expected: Outcome, fn: Any, **kwargs: Any) -> Any:
        """Call ``fn``; the refusal (or success) must be the one the model predicted."""
        CTX.steps += 1
        try:
            result = fn(**kwargs)
        except ApplicationError as exc:
            name = type(exc).__name__
            CTX.refusals[name] = CTX.refusals.get(name, 0) + 1
            assert expected.refusal is not None and type(exc) is expected.refusal, (
                f"{fn.__name__}({kwargs}) refused with {name} ({exc}); "
                f"the model expected {expected.refusal.__name__ if expected.refusal else 'success'}"
            )
            return None
        assert expected.refusal is None, (
            f"{fn.__name__}({kwargs}) succeeded; the model expected {expected.refusal.__name__}")
        return result

    def add_entry(self, entry: JournalEntry, account: int, receivable: int) -> MEntry:
        assert entry.amount > 0 and entry.account_id == self.accounts[account].pk
        m = MEntry(entry.pk, entry.kind, account, entry.amount, receivable)
        self.entries.append(m)
        return m

    # --- rules ------------------------------------------------------------------------------

    @rule(account=st.integers(0, 1), amount=AMOUNTS)
    def charge(self, account: int, amount: int) -> None:
        acc = self.accounts[account]
        expected = Outcome(InvalidAmount if amount <= 0 else
                           InsufficientCredit if amount > acc.available else None)
        result = self.call(expected, services.charge_create, actor=self.holders[account],
                           account_id=acc.pk, amount=amount, currency="EUR", merchant="prop")
        if result is not None:
            acc.posted += amount
            self.add_entry(result.entry, account, amount)

    @rule(account=st.integers(0, 1), amount=AMOUNTS)
    def payment(self, account: int, amount: int) -> None:
        acc = self.accounts[account]
        expected = Outcome(InvalidAmount if amount <= 0 else
                           PaymentExceedsBalance if amount > acc.posted else None)
        entry = self.call(expected, services.payment_create, actor=self.holders[account],
                          account_id=acc.pk, amount=amount, currency="EUR")
        if entry is not None:
            acc.posted -= amount
            self.add_entry(entry, account, -amount)

    @rule(account=st.integers(0, 1), amount=AMOUNTS, ttl=st.sampled_from(TTLS))
    def hold_create(self, account: int, amount: int, ttl: int | None) -> None:
        acc = self.accounts[account]
        expected = Outcome(InvalidAmount if amount <= 0 else
                           InsufficientCredit if amount > acc.available else None)
        result = self.call(expected, services.hold_create, actor=self.holders[account],
                           account_id=acc.pk, amount=amount, currency="EUR", merchant="prop",
                           ttl_seconds=ttl)
        if result is not None:
            hold, _ = result
            acc.pending += amount
            self.holds.append(MHold(hold.pk, account, amount, hold.expires_at))

    @precondition(lambda self: self.holds)
    @rule(pick=st.integers(0, 10_000),
          amount=st.one_of(st.none(), st.integers(1, 2_600), st.just(0)))
    def hold_capture(self, pick: int, amount: int | None) -> None:
        hold = self.holds[pick % len(self.holds)]
        acc = self.accounts[hold.account]
        wanted = hold.amount if amount is None else amount
        if wanted <= 0:
            refusal: type[ApplicationError] | None = InvalidAmount
        elif hold.status == "captured":
            refusal = None if wanted == hold.captured else AlreadyCaptured
        elif hold.status == "voided":
            refusal = HoldNotOpen
        elif hold.status == "expired" or hold.expires_at <= timezone.now():
            refusal = HoldExpired
        elif wanted > hold.amount:
            refusal = CaptureExceedsHold
        else:
            refusal = None
        was_captured = hold.status == "captured"
        result = self.call(Outcome(refusal), services.hold_capture,
                           actor=self.holders[hold.account], hold_id=hold.pk, amount=amount)
        if result is None or was_captured:  # refused, or the idempotent repeat of a capture
            return
        acc.pending -= hold.amount
        acc.posted += wanted
        hold.status, hold.captured = "captured", wanted
        self.add_entry(JournalEntry.objects.get(hold_id=hold.pk), hold.account, wanted)

    @precondition(lambda self: self.holds)
    @rule(pick=st.integers(0, 10_000))
    def hold_void(self, pick: int) -> None:
        hold = self.holds[pick % len(self.holds)]
        refusal = {"captured": AlreadyCaptured, "expired": HoldExpired}.get(hold.status)
        result = self.call(Outcome(refusal), services.hold_void,
                           actor=self.holders[hold.account], hold_id=hold.pk)
        if result is not None and hold.status == "open":
            self.accounts[hold.account].pending -= hold.amount
            hold.status = "voided"

    @rule(offset=st.sampled_from(EXPIRY_OFFSETS))
    def holds_expire(self, offset: int) -> None:
        now = timezone.now() + dt.timedelta(seconds=offset)
        due = [h for h in self.holds if h.status == "open" and h.expires_at <= now]
        CTX.steps += 1
        expired = services.holds_expire(now=now)
        assert expired == len(due)
        for hold in due:
            hold.status = "expired"
            self.accounts[hold.account].pending -= hold.amount

    @precondition(lambda self: self.entries)
    @rule(pick=st.integers(0, 10_000), amount=AMOUNTS)
    def refund(self, pick: int, amount: int) -> None:
        original = self.entries[pick % len(self.entries)]
        if amount <= 0:
            refusal: type[ApplicationError] | None = InvalidAmount
        elif original.kind not in ("charge", "capture") or original.reversed:
            refusal = NotRefundable
        elif amount > original.amount - original.refunded:
            refusal = RefundExceedsCharge
        else:
            refusal = None
        entry = self.call(Outcome(refusal), services.refund_create, actor=CTX.operator,
                          entry_id=original.pk, amount=amount)
        if entry is not None:
            original.refunded += amount
            self.accounts[original.account].posted -= amount
            self.add_entry(entry, original.account, -amount)
            assert entry.original_id == original.pk

    @precondition(lambda self: self.entries)
    @rule(pick=st.integers(0, 10_000))
    def reversal(self, pick: int) -> None:
        original = self.entries[pick % len(self.entries)]
        acc = self.accounts[original.account]
        if original.reversed:
            refusal: type[ApplicationError] | None = AlreadyReversed
        elif original.kind == "reversal" or original.refunded:
            refusal = ReversalNotAllowed
        elif acc.posted - original.receivable + acc.pending > acc.limit:
            refusal = ReversalNotAllowed
        else:
            refusal = None
        entry = self.call(Outcome(refusal), services.reversal_create, actor=CTX.operator,
                          entry_id=original.pk, reason="property test")
        if entry is not None:
            original.reversed = True
            acc.posted -= original.receivable
            self.add_entry(entry, original.account, -original.receivable)
            assert entry.reverses_id == original.pk

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        if not hasattr(self, "accounts"):
            return
        with connection.cursor() as cur:
            # what COMMIT would check: the deferred double-entry triggers fire now
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")
            cur.execute(BALANCES_SQL, [[a.pk for a in self.accounts]])
            stored = {row[0]: row[1:] for row in cur.fetchall()}
        assert [str(m) for m in verify_ledger()] == []
        for model in self.accounts:
            limit, posted, pending, receivable, open_holds = stored[model.pk]
            assert limit - posted - pending >= 0  # available
            assert posted == receivable == model.posted
            assert pending == open_holds == model.pending
        statuses = dict(Hold.objects.filter(pk__in=[h.pk for h in self.holds])
                        .values_list("pk", "status"))
        assert statuses == {h.pk: h.status for h in self.holds}
        entries = set(JournalEntry.objects.filter(account_id__in=[a.pk for a in self.accounts])
                      .values_list("pk", flat=True))
        assert entries == {e.pk for e in self.entries}


BALANCES_SQL = """
SELECT ca.id, ca.credit_limit, ca.posted, ca.pending,
       (SELECT coalesce(sum(p.amount), 0) FROM ledger_posting p
        JOIN ledger_ledgeraccount la ON la.id = p.ledger_account_id
        WHERE la.credit_account_id = ca.id),
       (SELECT coalesce(sum(h.amount), 0) FROM ledger_hold h
        WHERE h.account_id = ca.id AND h.status = 'open')
FROM accounts_creditaccount ca WHERE ca.id = ANY(%s)
"""


def test_any_sequence_of_ledger_calls_keeps_the_books(ledger_only: None) -> None:
    print(f"hypothesis seed: {SEED} (rerun with LEDGER_PROPERTY_SEED={SEED})")
    wall, cpu = time.perf_counter(), time.process_time()
    run_state_machine_as_test(
        seed(SEED)(LedgerMachine),
        settings=hypothesis_settings(
            max_examples=25, stateful_step_count=20, deadline=None, database=None,
            phases=PHASES,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                   HealthCheck.filter_too_much],
        ),
    )
    print(f"{CTX.examples} examples, {CTX.steps} service calls in "
          f"{time.perf_counter() - wall:.1f} s ({time.process_time() - cpu:.1f} s CPU), "
          f"refusals: {CTX.refusals}")
    assert CTX.steps > 200  # the machine really ran sequences, not just empty examples
    for name in ("InsufficientCredit", "PaymentExceedsBalance", "InvalidAmount"):
        assert CTX.refusals.get(name), f"no {name} refusal was ever exercised"


@pytest.fixture
def ledger_only(settings: Any) -> None:
    """Ledger-only pre-authorization and a platform admin (refunds and reversals need it)."""
    settings.LEDGER_PREAUTH = f"{__name__}.approve_all"
    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name="platform_admin"))
    CTX.operator, CTX.steps, CTX.examples, CTX.refusals = operator, 0, 0, {}
