"""Two people acting on the same case or rule set at the same instant: exactly one wins (row
locks on PostgreSQL, no mocks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from compliance.models import AuditEvent
from fraud import services
from fraud.exceptions import AlertClosed, RuleSetStateError
from fraud.models import Alert, FraudLabel, RuleSet
from ledger import services as ledger
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def staff(role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released together; each result or the exception raised."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            out[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_agents_deciding_one_alert_at_once(customer):
    account = customer.credit_accounts.get()
    entry = ledger.charge_create(actor=customer, account_id=account.pk, amount=3_000,
                                 currency="EUR").entry
    alert, _ = Alert.objects.get_or_create(entry=entry, defaults={
        "account": account, "score": 0.8, "reasons": []})
    a, b = staff("support_agent"), staff("support_agent")
    results = race([
        lambda: services.alert_decide(actor=a, alert_id=alert.pk, decision="confirm_fraud",
                                      note="a: fraud"),
        lambda: services.alert_decide(actor=b, alert_id=alert.pk, decision="false_positive",
                                      note="b: genuine"),
    ])
    won = [r for r in results if isinstance(r, Alert)]
    lost = [r for r in results if isinstance(r, AlertClosed)]
    assert len(won) == 1 and len(lost) == 1, results
    alert.refresh_from_db()
    assert alert.status == won[0].status
    labels = list(FraudLabel.objects.filter(entry=entry))
    assert len(labels) == 1 and labels[0].is_fraud == (alert.status == "confirmed_fraud")


def test_two_versions_approved_at_once_leave_one_active():
    maker, c1, c2 = staff("platform_admin"), staff("platform_admin"), staff("platform_admin")
    drafts = [services.ruleset_create_draft(actor=maker, alert_threshold=t) for t in (0.3, 0.4)]
    for d in drafts:
        services.ruleset_submit(actor=maker, ruleset_id=d.pk)
    results = race([
        lambda: services.ruleset_approve(actor=c1, ruleset_id=drafts[0].pk),
        lambda: services.ruleset_approve(actor=c2, ruleset_id=drafts[1].pk),
    ])
    approved = [r for r in results if isinstance(r, RuleSet)]
    refused = [r for r in results if isinstance(r, RuleSetStateError)]
    assert len(approved) + len(refused) == 2, results
    active = RuleSet.objects.get(status="active")          # never two, whatever the timing
    other = RuleSet.objects.get(pk=({d.pk for d in drafts} - {active.pk}).pop())
    if refused:
        # overlapping: the second to commit hits the one-active index and is refused (it may
        # retry); its version stays submitted
        assert [r.pk for r in approved] == [active.pk]
        assert other.status == "pending_approval"
    else:
        # one committed before the other began: the later approval supersedes the earlier,
        # and its audit record names it
        assert other.status == "superseded" and other.superseded_at is not None
        event = AuditEvent.objects.get(event_type="fraud.rules.approved",
                                       object_id=str(active.pk))
        assert event.details["superseded"] == [other.pk]
