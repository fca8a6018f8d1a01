"""Reads for the officers' console (issue 7, item 4). Views and admin call these; nothing writes.

Periods are half-open ``[start, end)`` of aware UTC datetimes. Money in the rows is integer
minor units with its currency, as stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from auditlog.models import LogEntry
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from compliance import sealing
from compliance.models import AuditArchive, AuditEvent
from fraud.models import Alert
from ledger.models import JournalEntry

#: Security event outcomes and types an officer looks at first in the flagged report.
FLAGGED_OUTCOMES = ("denied", "failure")


@dataclass(frozen=True)
class Period:
    """``[start, end)``, aware datetimes in UTC."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def from_dates(cls, start: dt.date | None, end: dt.date | None, *,
                   default_days: int = 30) -> Period:
        """Whole UTC days ``start`` .. ``end`` inclusive (default: the last ``default_days``)."""
        today = timezone.now().date()
        end = end or today
        start = start or end - dt.timedelta(days=default_days - 1)
        if start > end:
            start, end = end, start
        utc = dt.UTC
        return cls(dt.datetime.combine(start, dt.time.min, tzinfo=utc),
                   dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=utc))

    def days(self) -> list[dt.date]:
        """Every UTC day of the period, in order."""
        first, last = self.start.date(), (self.end - dt.timedelta(microseconds=1)).date()
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _per_day(qs: QuerySet, field: str, period: Period) -> list[tuple[dt.date, int]]:
    counts = dict(qs.filter(**{f"{field}__gte": period.start, f"{field}__lt": period.end})
                  .annotate(day=TruncDate(field, tzinfo=dt.UTC)).values("day")
                  .annotate(n=Count("pk")).values_list("day", "n"))
    return [(day, counts.get(day, 0)) for day in period.days()]


def events_per_day(*, period: Period) -> list[tuple[dt.date, int]]:
    """Security events per UTC day, every day of the period (zeros included)."""
    return _per_day(AuditEvent.objects.all(), "occurred_at", period)


def alerts_per_day(*, period: Period) -> list[tuple[dt.date, int]]:
    """Fraud alerts opened per UTC day."""
    return _per_day(Alert.objects.all(), "created_at", period)


def decisions_by_outcome(*, period: Period) -> dict[str, list[tuple[str, int]]]:
    """Decisions in the period, by outcome.

    ``{"alerts": [(status, n), ...], "preauth": [(decision, n), ...]}``: alerts decided by
    support (``decided_at`` in the period) by resulting status, and charges/holds by their
    pre-authorization decision (approve, review, decline) by ``occurred_at``.
    """
    alerts = (Alert.objects.filter(decided_at__gte=period.start, decided_at__lt=period.end)
              .values("status").annotate(n=Count("pk")).order_by("status")
              .values_list("status", "n"))
    preauth = (JournalEntry.objects.filter(occurred_at__gte=period.start,
                                           occurred_at__lt=period.end)
               .exclude(fraud_decision="").values("fraud_decision").annotate(n=Count("pk"))
               .order_by("fraud_decision").values_list("fraud_decision", "n"))
    return {"alerts": list(alerts), "preauth": list(preauth)}


def customer_find(*, query: str) -> User | None:
    """A customer by exact username, user id or credit account id; None when not found."""
    from accounts.selectors import parse_uuid

    query = (query or "").strip()
    if not query:
        return None
    user = User.objects.filter(username=query).first()
    if user is None and (pk := parse_uuid(query)) is not None:
        user = (User.objects.filter(pk=pk).first()
                or User.objects.filter(credit_accounts__pk=pk).first())
    return user


def customer_activity(*, customer: User, period: Period, limit: int = 500) -> dict[str, Any]:
    """One customer's activity in the period: their security events (as actor or as the
    object: the user, their accounts, cards, entries, alerts), journal entries, alerts and
    model changes. Each list is newest first and cut at ``limit`` (``*_total`` the full count).
    """
    account_ids = [str(pk) for pk in customer.credit_accounts.values_list("pk", flat=True)]
    card_ids = [str(pk) for pk in
                customer.credit_accounts.values_list("cards__pk", flat=True) if pk]
    entries = JournalEntry.objects.filter(account__owner=customer, occurred_at__gte=period.start,
                                          occurred_at__lt=period.end).order_by("-occurred_at")
    alerts = Alert.objects.filter(account__owner=customer, created_at__gte=period.start,
                                  created_at__lt=period.end).order_by("-created_at")
    object_ids = [str(customer.pk), *account_ids, *card_ids]
    entry_ids = [str(pk) for pk in entries.values_list("pk", flat=True)[:limit]]
    alert_ids = [str(pk) for pk in alerts.values_list("pk", flat=True)[:limit]]
    events = AuditEvent.objects.filter(
        Q(actor_type="user", actor_id=str(customer.pk))
        | Q(object_id__in=object_ids + entry_ids + alert_ids),
        occurred_at__gte=period.start, occurred_at__lt=period.end).order_by("-occurred_at", "-id")
    changes = LogEntry.objects.filter(
        Q(actor=customer) | Q(object_pk__in=object_ids),
        timestamp__gte=period.start, timestamp__lt=period.end).order_by("-timestamp")
    return {
        "customer": customer, "account_ids": account_ids,
        "events": list(events[:limit]), "events_total": events.count(),
        "entries": list(entries.select_related("account")[:limit]),
        "entries_total": entries.count(),
        "alerts": list(alerts[:limit]), "alerts_total": alerts.count(),
        "changes": list(changes.select_related("content_type", "actor")[:limit]),
        "changes_total": changes.count(),
    }


def flagged_activity(*, period: Period, limit: int = 500) -> dict[str, Any]:
    """What needs a look in the period: alerts opened, charges/holds the pre-authorization
    rules sent to review or declined, and security events that were denied or failed."""
    alerts = (Alert.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
              .select_related("account__owner").order_by("-score", "-created_at"))
    entries = (JournalEntry.objects.filter(occurred_at__gte=period.start,
                                           occurred_at__lt=period.end,
                                           fraud_decision__in=["review", "decline"])
               .select_related("account__owner").order_by("-occurred_at"))
    events = (AuditEvent.objects.filter(occurred_at__gte=period.start, occurred_at__lt=period.end,
                                        outcome__in=FLAGGED_OUTCOMES)
              .order_by("-occurred_at", "-id"))
    by_type = list(events.values("event_type", "outcome").annotate(n=Count("pk"))
                   .order_by("-n", "event_type").values_list("event_type", "outcome", "n"))
    return {
        "alerts": list(alerts[:limit]), "alerts_total": alerts.count(),
        "entries": list(entries[:limit]), "entries_total": entries.count(),
        "events": list(events[:limit]), "events_total": events.count(),
        "events_by_type": by_type,
    }


def seal_overview() -> dict[str, Any]:
    """Per sealed table: last seal (id, time, hash), rows not yet sealed, archived ranges."""
    status = sealing.seal_status()
    archives = {t: list(AuditArchive.objects.filter(table=t).order_by("first_id"))
                for t in sealing.SEALED_TABLES}
    return {"tables": [{"table": t, **s, "archives": archives[t]} for t, s in status.items()]}
