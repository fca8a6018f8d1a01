"""The transactional outbox: a committed charge always gets scored, even when the broker was
down at commit; a rolled-back one never; concurrent relays publish each row exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from celery import shared_task
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from creditplatform.webhooks.models import OutboxMessage
from creditplatform.webhooks.outbox import outbox_put, outbox_relay
from fraud.models import FraudScore
from fraud.receivers import score_message_id
from fraud.tasks import score_entry
from ledger import services

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISHED: Counter = Counter()
_lock = threading.Lock()


@shared_task(name="tests.webhooks.record_publication")
def record_publication(n: int) -> None:
    time.sleep(0.01)  # long enough for two relays to overlap
    with _lock:
        PUBLISHED[n] += 1


def _charge(user, amount=1500):
    account = user.credit_accounts.get()
    return services.charge_create(actor=user, account_id=account.pk, amount=amount,
                                  currency="EUR").entry


def test_committed_charge_has_its_scoring_row_dispatched(customer):
    entry = _charge(customer)
    message = OutboxMessage.objects.get(pk=score_message_id(entry.pk))
    assert message.topic == "fraud.score_entry" and message.payload["args"] == [str(entry.pk)]
    assert message.dispatched_at is not None and message.attempts == 0
    assert FraudScore.objects.filter(entry=entry).exists()


def test_broker_down_at_commit_loses_nothing(customer, monkeypatch):
    def broker_down(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(score_entry, "apply_async", broker_down)
    entry = _charge(customer)  # commits although nothing could be queued

    message = OutboxMessage.objects.get(pk=score_message_id(entry.pk))
    assert message.dispatched_at is None and message.attempts == 1
    assert "Connection refused" in message.last_error and message.available_at > timezone.now()
    assert not FraudScore.objects.filter(entry=entry).exists()

    assert outbox_relay() == 0  # backing off: not due yet
    monkeypatch.undo()  # the broker is back
    assert outbox_relay(now=message.available_at) == 1  # what the beat relay does when due
    message.refresh_from_db()
    assert message.dispatched_at is not None
    assert FraudScore.objects.filter(entry=entry).count() == 1
    assert outbox_relay(now=timezone.now() + timezone.timedelta(hours=1)) == 0  # once


def test_rolled_back_charge_leaves_no_row(customer):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        entry = _charge(customer)
        assert OutboxMessage.objects.filter(pk=score_message_id(entry.pk)).exists()
        raise Boom
    assert not OutboxMessage.objects.exists()
    assert not FraudScore.objects.exists()


def test_concurrent_relays_publish_each_row_exactly_once(settings):
    settings.OUTBOX_ROUTES = {**settings.OUTBOX_ROUTES,
                              "tests.record": "tests.webhooks.test_outbox.record_publication"}
    PUBLISHED.clear()
    with transaction.atomic():
        for n in range(60):
            outbox_put(topic="tests.record", args=[n], nudge=False)
    counts: list[int] = []
    barrier = threading.Barrier(3)

    def relay() -> None:
        try:
            barrier.wait()
            total = 0
            while True:
                done = outbox_relay(batch=5)
                total += done
                if not done and not OutboxMessage.objects.filter(
                        dispatched_at__isnull=True).exists():
                    break
            counts.append(total)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(PUBLISHED) == list(range(60))
    assert set(PUBLISHED.values()) == {1}, "a row was published twice"
    assert sum(counts) == 60 and len([c for c in counts if c]) >= 2, counts
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_unknown_topic_is_a_programming_error():
    with pytest.raises(KeyError):
        outbox_put(topic="no.such.topic")


def test_without_nudge_the_relay_scores_charges_in_one_batch(customer, settings, monkeypatch):
    """FRAUD_SCORING_NUDGE=False: commits only write the outbox rows; the relay publishes ONE
    ``score_entries`` task for all of them, and every charge is scored exactly once."""
    from fraud.tasks import score_entries

    settings.FRAUD_SCORING_NUDGE = False
    calls: list[list[str]] = []
    original = score_entries.apply_async

    def spy(args=None, kwargs=None, **options):
        calls.append(list(args[0]))
        return original(args=args, kwargs=kwargs, **options)

    monkeypatch.setattr(score_entries, "apply_async", spy)
    entries = [_charge(customer, amount=1000 + n) for n in range(3)]
    assert not FraudScore.objects.filter(entry__in=entries).exists()  # nothing published yet
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 3

    assert outbox_relay() == 3
    assert calls == [[str(e.pk) for e in entries]]
    assert FraudScore.objects.filter(entry__in=entries).count() == 3
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    assert outbox_relay() == 0  # published once
