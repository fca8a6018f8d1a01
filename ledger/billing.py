"""Billing cycles: statements, interest, fees, minimum payment, delinquency (issue 10, item 4).

Every rule here is written down, with its source, in ``docs/billing.md``; the numbers come from
``settings.BILLING``. Amounts are integers of minor units of the account's currency; billing
days are calendar dates in ``settings.TIME_ZONE``; a period is ``period_start`` ..
``period_end``, both inclusive.

* One statement per (account, period_end): :func:`statement_close` locks the account row and
  returns the existing statement when there is one; the database's unique constraint is the
  last line of defence. :func:`billing_run` (the daily Celery beat task) closes every cycle that
  ended before ``as_of``, each in its own transaction, and is safe to run twice or concurrently.
* Interest: average daily balance including new purchases (Reg Z 12 CFR 1026.14(a), commentary
  1026.7(b)(4)), daily periodic rate ``APR / 365``, no interest when the previous statement's
  balance was paid in full by its due date (grace period). Posted as a ``interest`` journal
  entry (debit receivable, credit ``interest_income:CUR``).
* Late fee: when the previous statement's minimum payment was not received by its due date;
  the configured amount, never more than that minimum (12 CFR 1026.52(b)(2)(i)(A)); posted as a
  ``fee`` entry (debit receivable, credit ``fee_income:CUR``).
* Rounding: only :func:`round_minor`, with :data:`ROUNDING`.
* Terms: :func:`billing_terms_change` changes an account's APR and/or cycle day from the next
  billing cycle (a cycle has one APR: the one in force on its first day); an APR increase above
  ``BILLING['APR_FOUR_EYES_BPS']`` waits for a second person (:func:`billing_terms_change_approve`
  / :func:`billing_terms_change_reject`); the APR is capped at ``BILLING['MAX_APR_BPS']``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.credit.services import (
    CreditPermissionDenied,
    RequestNotPending,
    SelfApprovalRefused,
)
from accounts.models import Card, CreditAccount
from accounts.services import card_freeze
from compliance import audit
from compliance.audit import SystemActor
from creditplatform.errors import ApplicationError, NotFoundError, ValidationError
from ledger.billing_models import (
    BillingStatement,
    BillingTerms,
    BillingTermsChange,
    DelinquencyBucket,
)
from ledger.exceptions import AccountNotActive
from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.services import _post_entry, _receivable_and_platform, _save_balances

logger = logging.getLogger(__name__)

#: The one rounding rule of billing (docs/billing.md, "Rounding"): round half to even.
ROUNDING = ROUND_HALF_EVEN

INTEREST_INCOME = "interest_income"
FEE_INCOME = "fee_income"
DAYS_IN_YEAR = 365  # the brief and Reg Z's daily periodic rate: APR / 365, leap years too

#: Journal entry kinds the statement sorts into purchases, payments, refunds and adjustments;
#: interest and fee entries are the statement's own and are never period activity.
PURCHASE_KINDS = (JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE)
STATEMENT_KINDS = (JournalEntry.Kind.INTEREST, JournalEntry.Kind.FEE)

BUCKET_ORDER = [DelinquencyBucket.CURRENT, DelinquencyBucket.DPD_30, DelinquencyBucket.DPD_60,
                DelinquencyBucket.DPD_90]


#: Legal maximum APR (basis points) when ``BILLING['MAX_APR_BPS']`` is not set: 36 %, the cap
#: of the US Military Lending Act (10 U.S.C. 987(b); 32 CFR 232.4(b): a 36 % "military annual
#: percentage rate" for covered borrowers), also the most common state small-loan cap. US
#: federal law sets no general cap for credit cards; deployments set their jurisdiction's.
DEFAULT_MAX_APR_BPS = 3600
#: An APR increase of more than this many basis points needs a second person when
#: ``BILLING['APR_FOUR_EYES_BPS']`` is not set: 1 percentage point (house policy, no legal
#: source; as ``CREDIT_LIMIT_FOUR_EYES_THRESHOLD`` is for limits).
DEFAULT_APR_FOUR_EYES_BPS = 100
#: Days of written notice before an APR increase takes effect when
#: ``BILLING['APR_INCREASE_NOTICE_DAYS']`` is not set: 45 (12 CFR 1026.9(c)(2)(i), "at least
#: 45 days prior to the effective date of the change"). The notice is dated the approval.
DEFAULT_APR_INCREASE_NOTICE_DAYS = 45
MAKER_PERMISSION = "ledger.add_billingtermschange"
CHECKER_PERMISSION = "ledger.approve_billingtermschange"


class StatementOutOfOrder(ApplicationError):
    """A period_end before or inside an already closed period of the account."""

    status = 409
    code = "statement_out_of_order"
    title = "Statement out of order"


class AprAboveMaximum(ValidationError):
    """The requested APR is above the legal maximum (``BILLING['MAX_APR_BPS']``): 400."""

    code = "apr_above_maximum"
    title = "APR above the legal maximum"


class TermsChangePending(ApplicationError):
    """The account already has a terms change waiting for a second person: 409."""

    status = 409
    code = "terms_change_pending"
    title = "Terms change pending"


def round_minor(value: Fraction | Decimal | int, rule: str = ROUNDING) -> int:
    """Round an exact amount of minor units to an integer: THE rounding function of billing.

    ``value`` is exact (a :class:`fractions.Fraction` or :class:`decimal.Decimal`; never a float).
    ``rule`` is ``decimal.ROUND_HALF_EVEN`` (the default, :data:`ROUNDING`) or
    ``decimal.ROUND_HALF_UP`` (half away from zero). Anything not exactly half-way goes to the
    nearest integer. Examples: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 (half-even); 2.5 -> 3 (half-up).

    Raises:
        TypeError: a float (inexact) value. ValueError: an unknown rule.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("round_minor takes exact values (Fraction, Decimal, int), never float")
    if isinstance(value, int):
        return value
    frac = Fraction(value)
    q, r = divmod(frac.numerator, frac.denominator)  # floor division: q <= value < q + 1
    twice = 2 * r
    if twice < frac.denominator:
        return q
    if twice > frac.denominator:
        return q + 1
    if rule == ROUND_HALF_EVEN:
        return q if q % 2 == 0 else q + 1
    if rule == ROUND_HALF_UP:
        return q + 1 if frac > 0 else q
    raise ValueError(f"unknown rounding rule {rule!r}")


def _conf(name: str) -> Any:
    return settings.BILLING[name]


def bucket_for(days_past_due: int) -> str:
    """The delinquency bucket of a number of days past due: 0-29 ``current``, 30-59 ``30``,
    60-89 ``60``, 90 and more ``90``."""
    if days_past_due >= 90:
        return DelinquencyBucket.DPD_90
    if days_past_due >= 60:
        return DelinquencyBucket.DPD_60
    if days_past_due >= 30:
        return DelinquencyBucket.DPD_30
    return DelinquencyBucket.CURRENT


def _day_start(day: dt.date) -> dt.datetime:
    """The first instant of ``day`` in ``settings.TIME_ZONE`` (aware)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min),
                               timezone.get_default_timezone())


def _local_date(value: dt.datetime) -> dt.date:
    return timezone.localdate(value, timezone.get_default_timezone())


def terms_for(account: CreditAccount) -> BillingTerms:
    """The account's billing terms, created with ``settings.BILLING`` defaults on first use."""
    terms, _ = BillingTerms.objects.get_or_create(
        account=account,
        defaults={"apr_bps": _conf("DEFAULT_APR_BPS"), "cycle_day": _conf("DEFAULT_CYCLE_DAY")},
    )
    return terms


def next_cycle_end(*, start: dt.date, cycle_day: int) -> dt.date:
    """The first date on or after ``start`` whose day of month is ``cycle_day`` (1-28)."""
    candidate = start.replace(day=cycle_day)
    if candidate >= start:
        return candidate
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return dt.date(year, month, cycle_day)


@dataclass(frozen=True)
class Terms:
    """The APR (basis points) and cycle day (1-28) in force for one billing cycle."""

    apr_bps: int
    cycle_day: int


def _scheduled_changes(account: CreditAccount) -> list[BillingTermsChange]:
    """Approved terms changes not yet folded into the account's :class:`BillingTerms`, in the
    order they apply."""
    return list(BillingTermsChange.objects.filter(
        account=account, status=BillingTermsChange.Status.APPROVED, applied_at__isnull=True)
        .order_by("effective_from", "decided_at", "requested_at"))


def _terms_on(terms: BillingTerms, scheduled: list[BillingTermsChange], day: dt.date) -> Terms:
    """The terms of a cycle that begins on ``day``: ``terms`` with every scheduled change
    whose ``effective_from`` is on or before ``day`` applied in order."""
    apr, cycle_day = terms.apr_bps, terms.cycle_day
    for change in scheduled:
        if change.effective_from is not None and change.effective_from <= day:
            apr = apr if change.apr_bps is None else change.apr_bps
            cycle_day = cycle_day if change.cycle_day is None else change.cycle_day
    return Terms(apr, cycle_day)


def _cycles(account: CreditAccount, *, last_end: dt.date | None, terms: BillingTerms,
            scheduled: list[BillingTermsChange]) -> Iterator[tuple[dt.date, dt.date, Terms]]:
    """``(start, end, terms)`` of the account's open cycle and every cycle after it, without
    end. The first cycle of an account ends on the first ``cycle_day`` on or after the day it
    was opened; every later cycle on the first ``cycle_day`` at least 28 days after its start
    (with an unchanged cycle day that is the same day one month on; after a change of the
    cycle day it is one transitional cycle of 28-58 days, Reg Z commentary 1026.2(a)(4)-3)."""
    start = last_end + dt.timedelta(days=1) if last_end else _local_date(account.created_at)
    first = last_end is None
    while True:
        in_force = _terms_on(terms, scheduled, start)
        end = next_cycle_end(start=start if first else start + dt.timedelta(days=27),
                             cycle_day=in_force.cycle_day)
        yield start, end, in_force
        start, first = end + dt.timedelta(days=1), False


def _previous_statement(account: CreditAccount, before: dt.date) -> BillingStatement | None:
    return (BillingStatement.objects.filter(account=account, period_end__lt=before)
            .order_by("-period_end").first())


def _period_entry_qs(*, account: CreditAccount, start: dt.date, end: dt.date,
                     prev_created_at: dt.datetime | None,
                     closed_at: dt.datetime | None) -> QuerySet[JournalEntry]:
    """The activity entries of a period: dated on one of its days, or dated before it but
    booked after the previous statement was closed (late arrivals, counted on ``start``).
    ``closed_at``: only entries booked before the statement was closed (for a closed one)."""
    dated_in = Q(occurred_at__gte=_day_start(start), occurred_at__lt=_day_start(end) +
                 dt.timedelta(days=1))
    late = Q(occurred_at__lt=_day_start(start))
    if prev_created_at is not None:
        late &= Q(created_at__gt=prev_created_at)
    qs = (JournalEntry.objects.filter(account=account).filter(dated_in | late)
          .exclude(kind__in=STATEMENT_KINDS))
    if closed_at is not None:
        qs = qs.filter(created_at__lt=closed_at)
    return qs


def statement_entry_ids(*, statement: BillingStatement) -> list[Any]:
    """Ids of the journal entries of a closed statement: its period's activity (as
    :func:`statement_close` saw it) plus its own interest and fee entries."""
    prev = _previous_statement(statement.account, statement.period_end)
    ids = list(_period_entry_qs(account=statement.account, start=statement.period_start,
                                end=statement.period_end,
                                prev_created_at=prev.created_at if prev else None,
                                closed_at=statement.created_at).values_list("id", flat=True))
    ids += [e for e in (statement.interest_entry_id, statement.fee_entry_id) if e]
    return ids


@dataclass(frozen=True)
class Activity:
    """One entry of the period: its effective billing day and signed effect on what is owed."""

    kind: str
    day: dt.date
    delta: int  # + raises the balance owed, - lowers it (minor units)
    reversed: bool


def _activity(*, account: CreditAccount, start: dt.date, end: dt.date,
              prev: BillingStatement | None) -> list[Activity]:
    entries = list(_period_entry_qs(account=account, start=start, end=end,
                                    prev_created_at=prev.created_at if prev else None,
                                    closed_at=None)
                   .values("id", "kind", "occurred_at", "reversal__id"))
    deltas = dict(
        Posting.objects.filter(entry_id__in=[e["id"] for e in entries],
                               ledger_account__credit_account=account)
        .values_list("entry_id").annotate(s=Sum("amount")).values_list("entry_id", "s")
    )
    return [Activity(kind=e["kind"], day=max(_local_date(e["occurred_at"]), start),
                     delta=deltas.get(e["id"], 0), reversed=e["reversal__id"] is not None)
            for e in entries]


def daily_balances(*, opening: int, start: dt.date, end: dt.date,
                   activity: list[Activity]) -> list[int]:
    """The balance owed at the end of each day of the period (after that day's entries), from
    ``start`` to ``end``: the daily balances of the average daily balance method including new
    purchases (Reg Z commentary 1026.7(b)(4))."""
    by_day: dict[dt.date, int] = defaultdict(int)
    for a in activity:
        by_day[a.day] += a.delta
    balances, balance, day = [], opening, start
    while day <= end:
        balance += by_day.get(day, 0)
        balances.append(balance)
        day += dt.timedelta(days=1)
    return balances


def interest_for(*, balances: list[int], apr_bps: int) -> int:
    """Interest of a cycle: ADB x (APR / 365) x days = (sum of daily balances) x APR / 365,
    with APR in basis points, one rounding (:func:`round_minor`) of the exact product. Credit
    balances (negative) count as zero."""
    total = sum(max(0, b) for b in balances)
    return round_minor(Fraction(total * apr_bps, 10_000 * DAYS_IN_YEAR))


def minimum_payment_for(*, closing: int, interest: int, fees: int, past_due: int) -> int:
    """Minimum payment: ``max(floor, round(bps% x principal) + interest + fees) + past_due``,
    capped at the closing balance; 0 when nothing is owed. ``principal = closing - interest -
    fees`` (never below 0)."""
    if closing <= 0:
        return 0
    principal = max(0, closing - interest - fees)
    share = round_minor(Fraction(principal * _conf("MIN_PAYMENT_PRINCIPAL_BPS"), 10_000))
    return min(closing, max(_conf("MIN_PAYMENT_FLOOR"), share + interest + fees) + past_due)


def allocate(*, fees: int, interest: int, principal: int, credit: int) -> tuple[int, int, int]:
    """Apply ``credit`` minor units of payments to the balance components in the documented
    order fees -> interest -> principal (one APR; CARD Act 12 CFR 1026.53: amounts above the
    minimum go to the highest-APR balance first, so with one APR the order is the issuer's).
    Returns the components left ``(fees, interest, principal)``; principal may go negative (a
    credit balance)."""
    take = min(fees, credit)
    fees, credit = fees - take, credit - take
    take = min(interest, credit)
    interest, credit = interest - take, credit - take
    return fees, interest, principal - credit


def _payments_after_q(statement: BillingStatement) -> Q:
    """Entries dated after ``statement``'s period end, or dated before but booked after its
    close (late arrivals, as in :func:`statement_close`)."""
    return Q(occurred_at__gte=_day_start(statement.period_end) + dt.timedelta(days=1)) | Q(
        created_at__gt=statement.created_at)


def _unreversed_payments_qs(account_id: Any, upto: dt.date) -> QuerySet[JournalEntry]:
    return JournalEntry.objects.filter(
        account_id=account_id, kind=JournalEntry.Kind.PAYMENT, reversal__isnull=True,
        occurred_at__lt=_day_start(upto) + dt.timedelta(days=1))


def unreversed_payments(*, statement: BillingStatement, upto: dt.date) -> int:
    """Payments made after ``statement`` closed (:func:`_payments_after_q`), dated up to
    ``upto``; reversed payments excluded. Minor units."""
    total = (_unreversed_payments_qs(statement.account_id, upto)
             .filter(_payments_after_q(statement)).aggregate(s=Sum("amount"))["s"])
    return total or 0


def days_past_due_as_of(*, account: CreditAccount, as_of: dt.date, lookback: int = 12) -> int:
    """Days past due on ``as_of``: counted from the due date of the oldest statement in the
    unbroken run of newest statements whose minimum payment is still not covered by the
    payments made since their close (:func:`unreversed_payments`, dated up to ``as_of``). A
    statement whose due date is not yet past is never past due. Two queries, whatever the run.
    """
    statements = list(BillingStatement.objects.filter(account=account, due_date__lt=as_of)
                      .order_by("-period_end")[:lookback])
    if not statements:
        return 0
    payments = list(_unreversed_payments_qs(account.pk, as_of)
                    .filter(_payments_after_q(statements[-1]))
                    .values_list("occurred_at", "created_at", "amount"))
    oldest_due = None
    for st in statements:
        paid = sum(amount for occurred, created, amount in payments
                   if _local_date(occurred) > st.period_end or created > st.created_at)
        if st.minimum_payment - paid <= 0:
            break
        oldest_due = st.due_date
    return 0 if oldest_due is None else (as_of - oldest_due).days


def _freeze(*, actor: Any, account: CreditAccount, bucket: str) -> None:
    """Freeze a delinquent account and its active cards (audited)."""
    if account.status == CreditAccount.Status.ACTIVE:
        account.status = CreditAccount.Status.FROZEN
        CreditAccount.objects.filter(pk=account.pk).update(status=account.status,
                                                           updated_at=timezone.now())
        audit.record("account.frozen", actor=actor, object_type="credit_account",
                     object_id=account.pk, details={"reason": "delinquency", "bucket": bucket})
    for card in Card.objects.filter(account=account, status=Card.Status.ACTIVE):
        card_freeze(actor=actor, card=card, reason=f"account delinquent ({bucket} days)")


def _should_freeze(bucket: str) -> bool:
    at = _conf("FREEZE_AT_BUCKET")
    return bool(at) and BUCKET_ORDER.index(bucket) >= BUCKET_ORDER.index(at)


def _post_statement_entry(*, actor: Any, account: CreditAccount, kind: str, amount: int,
                          income: str, day: dt.date, description: str) -> JournalEntry:
    receivable, income_account = _receivable_and_platform(
        account, income, account.currency, LedgerAccount.Kind.INCOME)
    return _post_entry(
        kind=kind, account=account, amount=amount,
        legs=[(receivable, amount), (income_account, -amount)],
        actor=actor, description=description,
        occurred_at=_day_start(day) + dt.timedelta(days=1, microseconds=-1),
    )


@transaction.atomic
def statement_close(*, actor: Any, account_id: object, period_end: dt.date) -> BillingStatement:
    """Close the billing cycle of one account that ends on ``period_end``; exactly once.
    As :func:`statement_close_once`, returning only the statement."""
    return statement_close_once(actor=actor, account_id=account_id, period_end=period_end)[0]


@transaction.atomic
def statement_close_once(*, actor: Any, account_id: object, period_end: dt.date
                         ) -> tuple[BillingStatement, bool]:
    """Close the billing cycle of one account that ends on ``period_end``; exactly once.

    Locks the account row; returns the existing statement when this period is closed already.
    The period starts the day after the previous statement's ``period_end`` (the first one: the
    day the account was opened). Posts the cycle's interest and late fee as journal entries,
    computes the minimum payment, due date (``period_end + DUE_DAYS``) and delinquency, and
    freezes the account and its cards at ``FREEZE_AT_BUCKET``. Interest and fee are capped at
    the available credit (the account's CHECK constraint keeps ``posted + pending <= limit``);
    what is not charged is recorded in the audit event as ``waived``.

    Returns: ``(statement, created)``; ``created`` is False when the period was closed before.

    Raises:
        NotFoundError: no such account, or ``actor`` is not a :class:`SystemActor` (closing
            is the platform's act: the beat task, operators' commands).
        StatementOutOfOrder: ``period_end`` is before the start of the next open period.
    """
    if not isinstance(actor, SystemActor):  # the beat task and operators' commands only
        raise NotFoundError("No such credit account.")
    if not 21 <= _conf("DUE_DAYS") <= 27:  # Reg Z's 21 days; due before the next cycle ends
        raise ImproperlyConfigured("BILLING['DUE_DAYS'] must be between 21 and 27.")
    try:
        account = CreditAccount.objects.select_for_update(of=("self",)).get(pk=account_id)
    except (CreditAccount.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise NotFoundError("No such credit account.") from None
    existing = BillingStatement.objects.filter(account=account, period_end=period_end).first()
    if existing is not None:
        return existing, False
    terms = terms_for(account)
    prev = (BillingStatement.objects.filter(account=account).order_by("-period_end").first())
    start = (prev.period_end + dt.timedelta(days=1) if prev
             else _local_date(account.created_at))
    if period_end < start:
        raise StatementOutOfOrder("This period overlaps a closed one.",
                                  extra={"next_period_start": start.isoformat()})
    scheduled = _scheduled_changes(account)
    apr_bps = _terms_on(terms, scheduled, start).apr_bps  # one APR per cycle: its first day's

    activity = _activity(account=account, start=start, end=period_end, prev=prev)
    opening = prev.closing_balance if prev else 0
    purchases = sum(a.delta for a in activity if a.kind in PURCHASE_KINDS)
    payments = -sum(a.delta for a in activity if a.kind == JournalEntry.Kind.PAYMENT)
    refunds = -sum(a.delta for a in activity if a.kind == JournalEntry.Kind.REFUND)
    adjustments = sum(a.delta for a in activity if a.kind == JournalEntry.Kind.REVERSAL)
    balances = daily_balances(opening=opening, start=start, end=period_end, activity=activity)
    days = len(balances)

    # Grace period and late fee look at the previous statement's due date.
    paid_in_full_prior, late_fee = True, 0
    past_due = 0
    if prev is not None and prev.closing_balance > 0:
        by_due = [a for a in activity if a.day <= prev.due_date]
        credits_by_due = -sum(a.delta for a in by_due if not a.reversed and a.kind in (
            JournalEntry.Kind.PAYMENT, JournalEntry.Kind.REFUND))
        paid_in_full_prior = credits_by_due >= prev.closing_balance
    if prev is not None and prev.minimum_payment > 0:
        paid_by_due = -sum(a.delta for a in activity if a.day <= prev.due_date
                           and a.kind == JournalEntry.Kind.PAYMENT and not a.reversed)
        if paid_by_due < prev.minimum_payment:
            late_fee = min(_conf("LATE_FEE"), prev.minimum_payment)
        paid_in_period = -sum(a.delta for a in activity
                              if a.kind == JournalEntry.Kind.PAYMENT and not a.reversed)
        past_due = max(0, prev.minimum_payment - paid_in_period)

    interest = 0 if paid_in_full_prior else interest_for(balances=balances, apr_bps=apr_bps)
    room = max(0, account.available)
    charged_interest = min(interest, room)
    charged_fee = min(late_fee, room - charged_interest)
    waived = {"interest": interest - charged_interest, "late_fee": late_fee - charged_fee}

    interest_entry = fee_entry = None
    if charged_interest > 0:
        interest_entry = _post_statement_entry(
            actor=actor, account=account, kind=JournalEntry.Kind.INTEREST,
            amount=charged_interest, income=INTEREST_INCOME, day=period_end,
            description=f"interest {start.isoformat()}..{period_end.isoformat()}")
    if charged_fee > 0:
        fee_entry = _post_statement_entry(
            actor=actor, account=account, kind=JournalEntry.Kind.FEE, amount=charged_fee,
            income=FEE_INCOME, day=period_end,
            description=f"late fee: minimum due {prev.due_date.isoformat()} not received")
    account.posted += charged_interest + charged_fee
    if charged_interest or charged_fee:
        _save_balances(account)

    closing = opening + purchases - payments - refunds + adjustments + charged_interest \
        + charged_fee
    minimum = minimum_payment_for(closing=closing, interest=charged_interest, fees=charged_fee,
                                  past_due=past_due)

    # Allocation: the previous components, the period's credits applied fees -> interest ->
    # principal, then this cycle's new purchases, adjustments, interest and fee.
    fees_left, interest_left, principal = (
        (prev.closing_fees_outstanding, prev.closing_interest_outstanding, prev.closing_principal)
        if prev else (0, 0, 0))
    fees_left, interest_left, principal = allocate(
        fees=fees_left, interest=interest_left, principal=principal, credit=payments + refunds)
    principal += purchases + adjustments

    dpd = days_past_due_as_of(account=account, as_of=period_end)
    bucket = bucket_for(dpd)
    try:
        with transaction.atomic():
            statement = BillingStatement.objects.create(
                account=account, period_start=start, period_end=period_end,
                currency=account.currency, opening_balance=opening, closing_balance=closing,
                purchases=purchases, payments=payments, refunds=refunds, adjustments=adjustments,
                interest=charged_interest, fees=charged_fee, late_fee=charged_fee,
                apr_bps=apr_bps, days_in_period=days,
                average_daily_balance=round_minor(
                    Fraction(sum(max(0, b) for b in balances), days)),
                minimum_payment=minimum, past_due_amount=min(past_due, minimum),
                due_date=period_end + dt.timedelta(days=_conf("DUE_DAYS")),
                paid_in_full_prior=paid_in_full_prior, days_past_due=dpd,
                delinquency_bucket=bucket,
                closing_fees_outstanding=fees_left + charged_fee,
                closing_interest_outstanding=interest_left + charged_interest,
                closing_principal=principal,
                interest_entry=interest_entry, fee_entry=fee_entry,
            )
    except IntegrityError:  # the row lock makes this unreachable; the constraint is the backstop
        raise StatementOutOfOrder("This period was closed concurrently.") from None
    BillingTerms.objects.filter(pk=terms.pk).update(delinquency_bucket=bucket,
                                                    days_past_due=dpd,
                                                    updated_at=timezone.now())
    _apply_scheduled(actor=actor, terms=terms, scheduled=scheduled,
                     upto=period_end + dt.timedelta(days=1))
    if _should_freeze(bucket):
        _freeze(actor=actor, account=account, bucket=bucket)
    audit.record("statement.closed", actor=actor, object_type="billing_statement",
                 object_id=statement.pk,
                 details={"account": str(account.pk), "period_end": period_end.isoformat(),
                          "closing_balance": closing, "interest": charged_interest,
                          "fees": charged_fee, "minimum_payment": minimum,
                          "days_past_due": dpd, "bucket": bucket, "waived": waived,
                          "apr_bps": apr_bps})
    return statement, True


def due_period_ends(*, account: CreditAccount, as_of: dt.date,
                    last_end: dt.date | None = None) -> list[dt.date]:
    """The cycle ends of ``account`` that are over by ``as_of`` (``period_end < as_of``) and
    not closed yet, oldest first. ``last_end``: the newest closed ``period_end``, if known."""
    if last_end is None:
        last_end = _last_period_end(account)
    ends = []
    for _, end, _ in _cycles(account, last_end=last_end, terms=terms_for(account),
                             scheduled=_scheduled_changes(account)):
        if end >= as_of:
            return ends
        ends.append(end)
    raise AssertionError("unreachable: cycles never end")  # pragma: no cover


def _last_period_end(account: CreditAccount) -> dt.date | None:
    return BillingStatement.objects.filter(account=account).aggregate(m=Max("period_end"))["m"]


def billing_run(*, as_of: dt.date | None = None) -> int:
    """Close every billing cycle that ended before ``as_of`` (default: today), oldest first,
    one transaction per statement. Safe to run twice or concurrently (exactly one statement per
    account and period). Returns the number of statements this call created.
    """
    actor = SystemActor("billing")
    as_of = as_of or timezone.localdate()
    # Accounts whose last statement is recent enough cannot have a cycle due (cycles >= 28 days).
    candidates = (CreditAccount.objects.annotate(last_end=Max("billing_statements__period_end"))
                  .filter(Q(last_end__isnull=True) | Q(last_end__lt=as_of - dt.timedelta(days=27)))
                  .exclude(status=CreditAccount.Status.CLOSED, posted=0)
                  .order_by("id"))
    created = 0
    for account in candidates.iterator(chunk_size=500):
        try:
            for end in due_period_ends(account=account, as_of=as_of, last_end=account.last_end):
                _, new = statement_close_once(actor=actor, account_id=account.pk,
                                              period_end=end)
                created += int(new)
        except ApplicationError as exc:  # one account's refusal never stops the others
            logger.warning("billing.close_refused", extra={"account": str(account.pk),
                                                           "code": exc.code})
    return created


# --- changing the APR or the cycle day (docs/billing.md) -------------------------------------

def _max_apr_bps() -> int:
    """The legal maximum APR in basis points: ``BILLING['MAX_APR_BPS']``, else
    :data:`DEFAULT_MAX_APR_BPS` (36 %, its source there)."""
    return int(settings.BILLING.get("MAX_APR_BPS", DEFAULT_MAX_APR_BPS))


def _apr_four_eyes_bps() -> int:
    """An APR increase above this many basis points needs a second person:
    ``BILLING['APR_FOUR_EYES_BPS']``, else :data:`DEFAULT_APR_FOUR_EYES_BPS`."""
    return int(settings.BILLING.get("APR_FOUR_EYES_BPS", DEFAULT_APR_FOUR_EYES_BPS))


def _apr_increase_notice_days() -> int:
    """Days between the approval of an APR increase and the first day it may apply:
    ``BILLING['APR_INCREASE_NOTICE_DAYS']``, else :data:`DEFAULT_APR_INCREASE_NOTICE_DAYS`."""
    return int(settings.BILLING.get("APR_INCREASE_NOTICE_DAYS",
                                    DEFAULT_APR_INCREASE_NOTICE_DAYS))


def _require(actor: Any, perm: str) -> None:
    if not getattr(actor, "has_perm", lambda p: False)(perm):
        raise CreditPermissionDenied(f"This needs the permission {perm}.")


def _check_apr_cap(apr_bps: int) -> None:
    if apr_bps > _max_apr_bps():
        raise AprAboveMaximum(f"apr_bps must be at most {_max_apr_bps()} (legal maximum).",
                              extra={"max_apr_bps": _max_apr_bps()})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_terms(*, apr_bps: Any, cycle_day: Any) -> None:
    """Raises ValidationError (nothing given, not integers, cycle day outside 1-28, negative
    APR) or AprAboveMaximum."""
    if apr_bps is None and cycle_day is None:
        raise ValidationError("Give a new apr_bps, a new cycle_day, or both.")
    if apr_bps is not None:
        if not _is_int(apr_bps) or apr_bps < 0:
            raise ValidationError("apr_bps must be a non-negative integer of basis points.")
        _check_apr_cap(apr_bps)
    if cycle_day is not None and (not _is_int(cycle_day) or not 1 <= cycle_day <= 28):
        raise ValidationError("cycle_day must be an integer from 1 to 28.")


@dataclass(frozen=True)
class _Schedule:
    """Where a change made today lands: the open cycle's terms, and the first cycle after it."""

    current: Terms
    effective_from: dt.date
    before_change: Terms  # the terms the change replaces (scheduled changes included)


def _today() -> dt.date:
    """Today in ``settings.TIME_ZONE``: the day a terms change is approved on."""
    return timezone.localdate()


def _schedule(account: CreditAccount, terms: BillingTerms, *,
              not_before: dt.date | None = None) -> _Schedule:
    """The first cycle that begins after today, and on or after ``not_before`` when given
    (the end of an advance notice period)."""
    today = _today()
    scheduled = _scheduled_changes(account)
    for _, end, in_force in _cycles(account, last_end=_last_period_end(account), terms=terms,
                                    scheduled=scheduled):
        if end >= today and (not_before is None or end >= not_before - dt.timedelta(days=1)):
            effective_from = end + dt.timedelta(days=1)
            return _Schedule(in_force, effective_from, _terms_on(terms, scheduled,
                                                                 effective_from))
    raise AssertionError("unreachable: cycles never end")  # pragma: no cover


def _changed(change: BillingTermsChange) -> dict[str, Any]:
    return {"account": str(change.account_id), "request": str(change.pk),
            "apr_bps": {"from": change.previous_apr_bps, "to": change.apr_bps},
            "cycle_day": {"from": change.previous_cycle_day, "to": change.cycle_day},
            "effective_from": change.effective_from.isoformat() if change.effective_from
            else None}


def _approve_now(*, actor: Any, change: BillingTermsChange, account: CreditAccount,
                 decided_by: Any, note: str) -> None:
    """Schedule ``change`` for the first cycle that begins after today; an APR increase (over
    the APR it replaces) for the first cycle that begins at least
    :func:`_apr_increase_notice_days` after today, the day of its notice. Audited
    ``billing.terms_changed`` (``notice_days`` set for an increase)."""
    terms = terms_for(account)
    notice_days = None
    schedule = _schedule(account, terms)
    if change.apr_bps is not None:
        _check_apr_cap(change.apr_bps)  # the cap may have been lowered since the request
        if change.apr_bps > schedule.before_change.apr_bps:
            notice_days = _apr_increase_notice_days()
            schedule = _schedule(account, terms, not_before=_today() + dt.timedelta(
                days=notice_days))
    change.effective_from = schedule.effective_from
    change.status = BillingTermsChange.Status.APPROVED
    change.decided_by = decided_by
    change.decided_at = timezone.now()
    change.decision_note = note
    change.save(update_fields=["effective_from", "status", "decided_by", "decided_at",
                               "decision_note"])
    audit.record("billing.terms_changed", actor=actor, object_type="credit_account",
                 object_id=account.pk, details={**_changed(change), "notice_days": notice_days})


@transaction.atomic
def billing_terms_change(*, actor: Any, account: CreditAccount, apr_bps: int | None = None,
                         cycle_day: int | None = None, reason: str) -> BillingTermsChange:
    """Change ``account``'s APR (basis points) and/or billing cycle day (1-28) from the next
    billing cycle: the cycle open today keeps its terms, the change applies from the first
    cycle that begins after the day it is approved (``effective_from``; docs/billing.md). An
    APR increase applies from the first cycle that begins at least 45 days after its approval
    (``BILLING['APR_INCREASE_NOTICE_DAYS']``; 12 CFR 1026.9(c)(2)): the notice period.

    An APR more than :func:`_apr_four_eyes_bps` above the APR of the open cycle needs a second
    person: the change stays ``pending`` until :func:`billing_terms_change_approve`. Every other
    change (decrease, small increase, cycle day) is approved at once. Audited:
    ``billing.terms_change_requested``, and ``billing.terms_changed`` once approved.

    Raises:
        CreditPermissionDenied: ``actor`` lacks ``ledger.add_billingtermschange`` (403).
        ValidationError: nothing to change, not integers, cycle day outside 1-28, negative APR,
            empty or over-long reason (400).
        AprAboveMaximum: APR above :func:`_max_apr_bps` (400).
        TermsChangePending: another change of this account awaits a second person (409).
        AccountNotActive: the account is closed (422 ``account_not_active``).
    """
    _require(actor, MAKER_PERMISSION)
    _validate_terms(apr_bps=apr_bps, cycle_day=cycle_day)
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationError("A reason of 1-500 characters is required.")
    account = CreditAccount.objects.select_for_update(of=("self",)).get(pk=account.pk)
    if account.status == CreditAccount.Status.CLOSED:
        raise AccountNotActive("A closed account has no next cycle to change.")
    if BillingTermsChange.objects.filter(account=account,
                                         status=BillingTermsChange.Status.PENDING).exists():
        raise TermsChangePending("A change of this account's terms awaits a second person.")
    schedule = _schedule(account, terms_for(account))
    target = schedule.before_change
    if (apr_bps in (None, target.apr_bps)) and (cycle_day in (None, target.cycle_day)):
        raise ValidationError("These are the terms already in force from the next cycle.")
    change = BillingTermsChange.objects.create(
        account=account, apr_bps=apr_bps, cycle_day=cycle_day,
        previous_apr_bps=schedule.current.apr_bps,
        previous_cycle_day=schedule.current.cycle_day, reason=reason, requested_by=actor)
    needs_checker = apr_bps is not None and apr_bps - schedule.current.apr_bps > \
        _apr_four_eyes_bps()
    audit.record("billing.terms_change_requested", actor=actor,
                 object_type="billing_terms_change", object_id=change.pk,
                 details={**_changed(change),
                          "needs_second_person": needs_checker,
                          "threshold_bps": _apr_four_eyes_bps()})
    if not needs_checker:
        _approve_now(actor=actor, change=change, account=account, decided_by=None,
                     note="within the single-person threshold")
    return change


def _check_checker(actor: Any, change: BillingTermsChange) -> None:
    """Refuse a checker without the permission or who made the request; a self-approval is
    the security event ``billing.terms_change_self_approval``, recorded in its own
    transaction (committed unless the caller holds an outer one) before the refusal."""
    _require(actor, CHECKER_PERMISSION)
    if getattr(actor, "pk", None) == change.requested_by_id:
        with transaction.atomic():
            audit.record("billing.terms_change_self_approval", actor=actor, outcome="denied",
                         object_type="billing_terms_change", object_id=change.pk)
        raise SelfApprovalRefused("The requester cannot approve their own request.")


def _decide(*, actor: Any, change: BillingTermsChange, approve: bool,
            note: str) -> BillingTermsChange:
    _check_checker(actor, BillingTermsChange.objects.get(pk=change.pk))
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update(of=("self",)).get(
            pk=change.account_id)
        locked = BillingTermsChange.objects.select_for_update().get(pk=change.pk)
        if locked.status != BillingTermsChange.Status.PENDING:
            raise RequestNotPending(f"The request is already {locked.status}.")
        if approve:
            _approve_now(actor=actor, change=locked, account=account, decided_by=actor,
                         note=note)
            return locked
        locked.status = BillingTermsChange.Status.REJECTED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_note = note
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit.record("billing.terms_change_rejected", actor=actor,
                     object_type="billing_terms_change", object_id=locked.pk,
                     details={"account": str(account.pk)})
        return locked


def billing_terms_change_approve(*, actor: Any, change: BillingTermsChange,
                                 note: str = "") -> BillingTermsChange:
    """A second person approves a pending terms change: it applies from the first billing
    cycle that begins after today, for an APR increase at least the notice period after today
    (``effective_from``, :func:`billing_terms_change`). Audited ``billing.terms_changed``.

    Raises:
        CreditPermissionDenied: no ``ledger.approve_billingtermschange`` (403).
        SelfApprovalRefused: ``actor`` made the request (403, audited).
        RequestNotPending: decided already (409).
        AprAboveMaximum: the legal maximum was lowered since the request (400).
    """
    return _decide(actor=actor, change=change, approve=True, note=note)


def billing_terms_change_reject(*, actor: Any, change: BillingTermsChange,
                                note: str = "") -> BillingTermsChange:
    """A second person rejects a pending terms change; the terms stay. Audited
    ``billing.terms_change_rejected``.

    Raises: as :func:`billing_terms_change_approve` (but never AprAboveMaximum).
    """
    return _decide(actor=actor, change=change, approve=False, note=note)


def _apply_scheduled(*, actor: Any, terms: BillingTerms, scheduled: list[BillingTermsChange],
                     upto: dt.date) -> None:
    """Fold the scheduled changes effective on or before ``upto`` (the first day of the next
    cycle) into ``terms`` and mark them applied; audited ``billing.terms_applied`` (and the
    ``BillingTerms`` save in auditlog)."""
    due = [c for c in scheduled if c.effective_from is not None and c.effective_from <= upto]
    if not due:
        return
    in_force = _terms_on(terms, due, upto)
    previous = Terms(terms.apr_bps, terms.cycle_day)
    terms.apr_bps, terms.cycle_day = in_force.apr_bps, in_force.cycle_day
    terms.save(update_fields=["apr_bps", "cycle_day", "updated_at"])
    BillingTermsChange.objects.filter(pk__in=[c.pk for c in due]).update(
        applied_at=timezone.now())
    audit.record("billing.terms_applied", actor=actor, object_type="credit_account",
                 object_id=terms.account_id,
                 details={"from": {"apr_bps": previous.apr_bps,
                                   "cycle_day": previous.cycle_day},
                          "to": {"apr_bps": in_force.apr_bps, "cycle_day": in_force.cycle_day},
                          "cycle_start": upto.isoformat(), "changes": [str(c.pk) for c in due]})
