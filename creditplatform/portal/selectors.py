"""Reads of the portal, each on top of the platform's selectors (one access policy:
``accounts.permissions.scope_for_api``; someone else's id is ``NotFoundError``, as a missing one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek

from accounts.permissions import scope_for_api
from accounts.selectors import account_list_for, parse_uuid
from creditplatform.errors import NotFoundError
from ledger.models import JournalEntry
from ledger.selectors import entry_list_for

#: Kinds that are spending (money going out on the card) for the charts.
SPENDING_KINDS = (JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE)


@dataclass(frozen=True)
class EntryFilter:
    """Search and filters of the transaction list: ``q`` matches merchant or description
    (case-insensitive substring), ``kind`` one of ``JournalEntry.Kind``, dates inclusive (UTC,
    by ``occurred_at``)."""

    q: str = ""
    kind: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def entry_search_for(*, actor: Any, account_id: object,
                     filters: EntryFilter) -> QuerySet[JournalEntry]:
    """Entries of one of ``actor``'s accounts matching ``filters``, newest first.

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    qs = entry_list_for(actor=actor, account_id=account_id)
    if filters.q:
        qs = qs.filter(Q(merchant__icontains=filters.q) | Q(description__icontains=filters.q))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.date_from:
        qs = qs.filter(occurred_at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(occurred_at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    return qs


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def recent_entries_for(*, actor: Any, limit: int = 10) -> list[JournalEntry]:
    """The ``limit`` newest entries over all of ``actor``'s accounts."""
    entries: list[JournalEntry] = []
    for account in account_list_for(actor=actor):
        entries.extend(entry_list_for(actor=actor, account_id=account.pk)[:limit])
    entries.sort(key=lambda e: (e.created_at, str(e.pk)), reverse=True)
    return entries[:limit]


def entry_get_for(*, actor: Any, entry_id: object) -> JournalEntry:
    """One journal entry of ``actor`` (with its account and card).

    Raises:
        NotFoundError: missing, malformed id, or not ``actor``'s (the same answer).
    """
    pk = parse_uuid(entry_id)
    if pk is None:
        raise NotFoundError("No such transaction.")
    try:
        return (scope_for_api(actor, JournalEntry.objects.all())
                .select_related("account", "card").get(pk=pk))
    except JournalEntry.DoesNotExist:
        raise NotFoundError("No such transaction.") from None


def spending_anchor_for(*, actor: Any, account_id: object) -> dt.date:
    """The day the spending charts end on: the newest charge or capture of the account (so
    that replayed or older activity still shows), or today without any.

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    latest = (entry_list_for(actor=actor, account_id=account_id)
              .filter(kind__in=SPENDING_KINDS).order_by("-occurred_at")
              .values_list("occurred_at", flat=True).first())
    return latest.astimezone(dt.UTC).date() if latest else dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class SpendPoint:
    """One bar of a spending chart: ``label``, ``amount`` in minor units, ``count`` entries."""

    label: str
    amount: int
    count: int


def spending_by_week_for(*, actor: Any, account_id: object, weeks: int = 12,
                         today: dt.date | None = None) -> list[SpendPoint]:
    """Charges and captures of the ``weeks`` ISO weeks (Monday start, UTC) up to the week of
    ``today`` (default: now), oldest first; weeks without spending are included with 0.

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    this_monday = today - dt.timedelta(days=today.weekday())
    first = this_monday - dt.timedelta(weeks=weeks - 1)
    rows = (entry_list_for(actor=actor, account_id=account_id)
            .filter(kind__in=SPENDING_KINDS, occurred_at__gte=_day_start(first),
                    occurred_at__lt=_day_start(this_monday + dt.timedelta(weeks=1)))
            .order_by().annotate(week=TruncWeek("occurred_at", tzinfo=dt.UTC))
            .values("week").annotate(total=Sum("amount"), n=Count("id")))
    by_week = {row["week"].date(): (row["total"], row["n"]) for row in rows}
    points = []
    for i in range(weeks):
        monday = first + dt.timedelta(weeks=i)
        total, n = by_week.get(monday, (0, 0))
        points.append(SpendPoint(label=monday.strftime("%d %b"), amount=total, count=n))
    return points


def spending_by_merchant_for(*, actor: Any, account_id: object, days: int = 90,
                             top: int = 8, today: dt.date | None = None) -> list[SpendPoint]:
    """The ``top`` merchants by charges and captures over the ``days`` days up to ``today``
    (default: now), largest first (entries without a merchant are grouped as "(no merchant)").

    Raises:
        NotFoundError: the account is missing or not ``actor``'s.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    since = _day_start(today - dt.timedelta(days=days - 1))
    rows = (entry_list_for(actor=actor, account_id=account_id)
            .filter(kind__in=SPENDING_KINDS, occurred_at__gte=since,
                    occurred_at__lt=_day_start(today + dt.timedelta(days=1)))
            .order_by().values("merchant").annotate(total=Sum("amount"), n=Count("id"))
            .order_by("-total", "merchant")[:top])
    return [SpendPoint(label=row["merchant"] or "(no merchant)", amount=row["total"],
                       count=row["n"]) for row in rows]

