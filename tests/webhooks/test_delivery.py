"""End to end over real HTTP: a partner subscribes, a charge commits, the outbox fans the
event out, a signed delivery reaches a local receiver and verifies with the exact recipe of
docs/webhooks.md; failures are retried with backoff, a 2xx is never sent twice, redirects
are not followed and a name that now resolves inside is refused at delivery time."""

from __future__ import annotations

import json
import re
import socket
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from creditplatform import metrics
from creditplatform.webhooks import services
from creditplatform.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from ledger import services as ledger_services

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():
    """The verification function exactly as docs/webhooks.md gives it to partners."""
    text = DOC.read_text()
    section = text.split("## Verify a delivery", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_webhook"]


@pytest.fixture(autouse=True)
def _loopback_receiver_allowed(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS = True


def subscribe(partner, receiver, types=("charge.approved",)):
    return services.endpoint_create(actor=partner.client, client=partner.client,
                                    url=receiver.url, event_types=list(types))


def charge(partner_api, partner, amount=1500):
    return partner_api.post(
        f"/api/v1/accounts/{partner.account.pk}/charges/",
        {"amount": amount, "currency": "EUR", "card": str(partner.card.pk),
         "merchant": "hook-shop"},
        format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


def test_a_committed_charge_reaches_the_partner_signed_and_verifiable(partner, partner_api,
                                                                        receiver):
    created = subscribe(partner, receiver)
    r = charge(partner_api, partner)
    assert r.status_code == 201, r.content

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    body = json.loads(got.body)
    assert body["type"] == "charge.approved"
    assert body["data"]["id"] == r.json()["id"] and body["data"]["amount"] == 1500
    assert got.headers["Creditplatform-Event-Id"] == body["id"]
    verify = documented_verify()
    assert verify(created.secret, got.body, got.headers["Creditplatform-Signature"])
    # the recipe is not vacuous: another secret, another body or an old timestamp fail
    assert not verify("whsec_other", got.body, got.headers["Creditplatform-Signature"])
    assert not verify(created.secret, got.body + b" ", got.headers["Creditplatform-Signature"])
    old = re.sub(r"t=\d+", "t=1000000000", got.headers["Creditplatform-Signature"])
    assert not verify(created.secret, got.body, old)

    delivery = WebhookDelivery.objects.get(event_id=body["id"])
    assert delivery.status == "succeeded" and delivery.attempts == 1
    # delivered once: running the task again sends nothing
    services.delivery_attempt(delivery_id=delivery.pk)
    services.delivery_attempt(delivery_id=delivery.pk, manual=True)
    assert len(receiver.requests) == 1


def test_failures_are_retried_with_backoff_then_delivered_once(partner, partner_api, receiver,
                                                                settings):
    subscribe(partner, receiver)
    receiver.statuses = [500, 503]
    failures = metrics.WEBHOOK_FAILURES.labels(event_type="charge.approved")
    before = failures._value.get()
    assert charge(partner_api, partner).status_code == 201

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    wait = (delivery.next_attempt_at - WebhookAttempt.objects.get().attempted_at).total_seconds()
    assert 1 <= wait <= settings.WEBHOOKS_RETRY_BASE_SECONDS * 2 ** 1
    # not due yet: the sweep leaves it alone
    assert services.deliveries_sweep() == 0

    # the retries (what the countdown task or the sweep runs when due)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
    assert services.deliveries_sweep(now=delivery.next_attempt_at) == 1  # due: queued, sent
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    assert [a.status_code for a in WebhookAttempt.objects.order_by("attempted_at")] == \
        [500, 503, 200]
    # the receiver saw the same event id three times (it deduplicates on it), never a 4th
    ids = {json.loads(r.body)["id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    services.deliveries_sweep(now=timezone.now() + timezone.timedelta(days=1))
    assert len(receiver.requests) == 3
    assert failures._value.get() == before + 2


def test_gives_up_after_max_attempts_and_admin_redelivery_sends_again(partner, partner_api,
                                                                      receiver, settings):
    settings.WEBHOOKS_MAX_ATTEMPTS = 2
    subscribe(partner, receiver)
    receiver.statuses = [500, 500]
    charge(partner_api, partner)
    delivery = WebhookDelivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    services.delivery_attempt(delivery_id=delivery.pk)  # failed: the automatic path stops
    assert len(receiver.requests) == 2

    from tests.factories import ACTOR

    assert services.delivery_redeliver(actor=ACTOR, delivery_ids=[delivery.pk]) == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.requests) == 3
    assert services.delivery_redeliver(actor=ACTOR, delivery_ids=[delivery.pk]) == 0


def test_rotation_overlap_sends_both_signatures(partner, partner_api, receiver):
    old = subscribe(partner, receiver)
    new = services.endpoint_rotate_secret(actor=partner.client, endpoint=old.endpoint,
                                          overlap_seconds=600)
    charge(partner_api, partner)
    got = receiver.requests[0]
    header = got.headers["Creditplatform-Signature"]
    assert header.count("v1=") == 2
    verify = documented_verify()
    assert verify(old.secret, got.body, header) and verify(new.secret, got.body, header)


def test_redirects_are_not_followed(partner, partner_api, receiver):
    subscribe(partner, receiver)
    receiver.redirect_to = receiver.url + "/elsewhere"
    charge(partner_api, partner)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert [r.path for r in receiver.requests] == ["/hooks/creditplatform"]


def test_a_name_that_now_resolves_inside_is_refused_at_delivery(partner, partner_api, receiver,
                                                                monkeypatch, settings):
    """DNS rebinding: the endpoint passed at create time; at delivery its name points at a
    private address, and nothing is sent."""
    settings.WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS = False
    endpoint = services.endpoint_create(
        actor=partner.client, client=partner.client, url="https://93.184.215.14/hook",
        event_types=["charge.approved"]).endpoint
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="https://rebound.example/hook")
    real = socket.getaddrinfo

    def rebinding(host, port, *a, **kw):
        if host == "rebound.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
        return real(host, port, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    charge(partner_api, partner)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error.startswith("refused")
    assert WebhookAttempt.objects.get().status_code is None


def test_declines_and_refunds_are_events_too(partner, partner_api, receiver):
    subscribe(partner, receiver, types=("charge.declined", "refund.created"))
    refused = charge(partner_api, partner, amount=10_000_000)  # over the credit limit
    assert refused.status_code == 402
    approved = charge(partner_api, partner, amount=2000)  # not subscribed: no event
    entry_id = approved.json()["id"]
    r = partner_api.post(f"/api/v1/transactions/{entry_id}/refunds/", {"amount": 500},
                         format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert r.status_code == 201, r.content
    types = [json.loads(x.body)["type"] for x in receiver.requests]
    assert types == ["charge.declined", "refund.created"]
    declined = json.loads(receiver.requests[0].body)["data"]
    assert (declined["code"], declined["amount"]) == ("insufficient_credit", 10_000_000)
    assert json.loads(receiver.requests[1].body)["data"]["original"] == entry_id
    assert WebhookEvent.objects.count() == 2


def test_a_cardholder_charge_on_the_partners_card_notifies_the_partner(partner, receiver):
    subscribe(partner, receiver)
    ledger_services.charge_create(actor=partner.holder, account_id=partner.account.pk,
                                  amount=700, currency="EUR", card_id=partner.card.pk)
    assert [json.loads(x.body)["data"]["amount"] for x in receiver.requests] == [700]


def test_no_endpoint_no_event(partner, partner_api):
    assert charge(partner_api, partner).status_code == 201
    assert not WebhookEvent.objects.exists()


def test_a_fraud_alert_on_the_partners_card_is_an_event(partner, partner_api, receiver):
    """The scorer opens an alert (``fraud.signals.alert_opened``): ``alert.opened`` follows."""
    from fraud.models import Alert

    subscribe(partner, receiver, types=("alert.opened", "card.frozen"))
    r = charge(partner_api, partner, amount=50_000)  # large: the scorer opens an alert
    assert r.status_code == 201, r.content
    alert = Alert.objects.get(entry_id=r.json()["id"])
    bodies = [json.loads(x.body) for x in receiver.requests]
    opened = [b for b in bodies if b["type"] == "alert.opened"]
    assert [b["data"]["id"] for b in opened] == [str(alert.pk)]
    assert opened[0]["data"]["card"] == str(partner.card.pk)
    partner.card.refresh_from_db()
    frozen = [b for b in bodies if b["type"] == "card.frozen"]
    assert len(frozen) == (1 if partner.card.status == "frozen" else 0)


def test_card_frozen_signal_is_an_event(partner, receiver):
    from accounts.models import Card
    from fraud import signals as fraud_signals

    subscribe(partner, receiver, types=("card.frozen",))
    Card.objects.filter(pk=partner.card.pk).update(status="frozen")
    fraud_signals.card_frozen.send(sender=Card, card_id=partner.card.pk, alert_id=None)
    [got] = [json.loads(x.body) for x in receiver.requests]
    assert got["type"] == "card.frozen"
    assert (got["data"]["id"], got["data"]["status"]) == (str(partner.card.pk), "frozen")
