"""Which partner an entry's webhook event goes to is decided inside the posting transaction,
from the card's partner at that moment (found by an attack review: the in-memory card of the
service, read before it waited for the account's row lock, named the partner the card had
before a concurrent change)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from accounts import api_clients
from accounts.models import Card
from creditplatform.webhooks import services as hooks
from creditplatform.webhooks.models import OutboxMessage
from ledger import services
from tests.factories import ACTOR, CustomerFactory, add_card
from tests.support.processes import db_url

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = "https://93.184.215.14/hooks"


def _partner(name: str, *, subscribed: bool) -> Any:
    client = api_clients.api_client_create(actor=ACTOR, name=name, scopes=["charges:write"])
    if subscribed:
        hooks.endpoint_create(actor=ACTOR, client=client, url=PUBLIC,
                              event_types=["charge.approved"])
    return client


def _events_of(entry_id: Any) -> list[str]:
    return [m.payload["kwargs"]["event_type"]
            for m in OutboxMessage.objects.filter(topic="webhooks.event")
            if m.payload["kwargs"].get("object_id") == str(entry_id)]


@pytest.mark.parametrize("old_subscribed,new_subscribed", [(False, True), (True, False)])
def test_card_moved_to_another_partner_while_the_charge_waits_for_the_lock(
        monkeypatch, old_subscribed, new_subscribed):
    monkeypatch.setattr(hooks, "_enqueue", lambda *a, **k: None)  # rows only, no delivery
    old = _partner("old-issuer", subscribed=old_subscribed)
    new = _partner("new-issuer", subscribed=new_subscribed)
    holder = CustomerFactory()
    account = holder.credit_accounts.get()
    card = add_card(holder)
    Card.objects.filter(pk=card.pk).update(issued_for=old)

    # holds the account row: the charge reads the card, then waits
    locker = psycopg.connect(db_url())
    locker.execute("SELECT 1 FROM accounts_creditaccount WHERE id = %s FOR UPDATE",
                   [account.pk])
    result: dict[str, Any] = {}

    def charge() -> None:
        from django.db import connection as own

        try:
            result["entry"] = services.charge_create(
                actor=holder, account_id=account.pk, amount=100, currency="EUR",
                card_id=card.pk).entry
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc
        finally:
            own.close()

    thread = threading.Thread(target=charge)
    thread.start()
    with psycopg.connect(db_url()) as watcher:
        watcher.autocommit = True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until a backend waits on a lock
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").fetchone()[0]
            if waiting:
                break
            time.sleep(0.02)
        assert waiting, "the charge never waited for the account's row lock"
        watcher.execute("UPDATE accounts_card SET issued_for_id = %s WHERE id = %s",
                        [new.pk, card.pk])
    locker.commit()
    locker.close()
    thread.join(30)

    assert "error" not in result, result
    # the partner at posting time decides: the new one's subscription, never the old one's
    assert _events_of(result["entry"].pk) == (["charge.approved"] if new_subscribed else [])
