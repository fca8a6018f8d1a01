"""Reads of billing statements, always through the access policy (exported by
:mod:`ledger.selectors`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import CreditAccount
from accounts.permissions import scope_for_api
from accounts.selectors import account_get_for, parse_uuid
from creditplatform.errors import NotFoundError
from ledger.billing_models import BillingStatement
from ledger.models import JournalEntry


def _visible_accounts(actor: Any) -> QuerySet[CreditAccount]:
    return scope_for_api(actor, CreditAccount.objects.all())


def billing_statement_list_for(*, actor: Any, account_id: object = None
                               ) -> QuerySet[BillingStatement]:
    """Billing statements of ``actor``'s credit accounts, newest period first.

    With ``account_id``: only that account's (which must be ``actor``'s). Someone else's or a
    missing account raises the same error.

    Raises:
        NotFoundError: ``account_id`` is given and is missing, malformed or not ``actor``'s.
    """
    qs = BillingStatement.objects.select_related("account")
    if account_id is not None:
        account = account_get_for(actor=actor, account_id=account_id)
        qs = qs.filter(account=account)
    else:
        qs = qs.filter(account__in=_visible_accounts(actor))
    return qs.order_by("-period_end", "-id")


def billing_statement_get_for(*, actor: Any, statement_id: object) -> BillingStatement:
    """One billing statement of one of ``actor``'s accounts.

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s (the same answer).
    """
    pk = parse_uuid(statement_id)
    if pk is None:
        raise NotFoundError("No such statement.")
    statement = (BillingStatement.objects.select_related("account", "interest_entry",
                                                         "fee_entry")
                 .filter(pk=pk, account__in=_visible_accounts(actor)).first())
    if statement is None:
        raise NotFoundError("No such statement.")
    return statement


def billing_statement_entries(*, statement: BillingStatement) -> QuerySet[JournalEntry]:
    """The journal entries of a statement's period, oldest first: entries whose ``occurred_at``
    falls on a day of the period (``settings.TIME_ZONE``), entries booked late into it (created
    after the previous statement but dated before the period), and the interest and fee entries
    the statement posted. ``statement`` must come from :func:`billing_statement_get_for`.
    """
    from ledger.billing import statement_entry_ids

    ids = statement_entry_ids(statement=statement)
    return (JournalEntry.objects.filter(pk__in=ids).select_related("card")
            .order_by("occurred_at", "created_at", "id"))


def billing_statement_latest(*, actor: Any, account_id: object) -> BillingStatement | None:
    """The newest statement of one of ``actor``'s accounts, or None before the first close.

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    return billing_statement_list_for(actor=actor, account_id=account_id).first()


def as_local_date(value: dt.datetime) -> dt.date:
    """The calendar date of an aware datetime in ``settings.TIME_ZONE`` (billing's day)."""
    from django.utils import timezone

    return timezone.localdate(value)


@dataclass(frozen=True)
class MinimumPaymentDue:
    """What the cardholder must pay now: the latest statement's ``minimum_payment`` less the
    payments received since it closed (``remaining``, never below 0), by ``due_date``. Before
    the first statement everything is 0 and ``due_date``/``statement`` are None. Minor units of
    ``currency``."""

    account: CreditAccount
    currency: str
    statement: BillingStatement | None
    minimum_payment: int
    paid_since_statement: int
    remaining: int
    statement_balance: int
    due_date: dt.date | None
    days_past_due: int
    delinquency_bucket: str


def billing_minimum_payment_for(*, actor: Any, account_id: object,
                                today: dt.date | None = None) -> MinimumPaymentDue:
    """The current minimum payment and due date of one of ``actor``'s accounts.

    ``days_past_due`` is recomputed for ``today`` (default: today in ``settings.TIME_ZONE``) by
    the same rule the statement uses (:func:`ledger.billing.days_past_due_as_of`).

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    from django.utils import timezone

    from ledger.billing import bucket_for, days_past_due_as_of, unreversed_payments

    account = account_get_for(actor=actor, account_id=account_id)
    latest = billing_statement_list_for(actor=actor, account_id=account.pk).first()
    if latest is None:
        return MinimumPaymentDue(account=account, currency=account.currency, statement=None,
                                 minimum_payment=0, paid_since_statement=0, remaining=0,
                                 statement_balance=0, due_date=None, days_past_due=0,
                                 delinquency_bucket="current")
    today = today or timezone.localdate()
    paid = unreversed_payments(statement=latest, upto=today)
    dpd = days_past_due_as_of(account=account, as_of=today)
    return MinimumPaymentDue(
        account=account, currency=account.currency, statement=latest,
        minimum_payment=latest.minimum_payment, paid_since_statement=paid,
        remaining=max(0, latest.minimum_payment - paid),
        statement_balance=latest.closing_balance, due_date=latest.due_date, days_past_due=dpd,
        delinquency_bucket=bucket_for(dpd))
