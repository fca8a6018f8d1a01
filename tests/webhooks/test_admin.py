"""The delivery log in the admin: attempts listed, secrets never shown, and the "redeliver"
action sends a failed delivery again (a succeeded one never)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from creditplatform.webhooks import services
from creditplatform.webhooks.models import WebhookDelivery
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(settings) -> Client:
    settings.ADMIN_REQUIRE_OTP = False
    user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_redeliver_action_and_log(admin_client, partner, partner_api, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS = True
    settings.WEBHOOKS_MAX_ATTEMPTS = 1
    created = services.endpoint_create(actor=partner.client, client=partner.client,
                                       url=receiver.url, event_types=["charge.approved"])
    receiver.statuses = [500]
    r = partner_api.post(f"/api/v1/accounts/{partner.account.pk}/charges/",
                         {"amount": 900, "currency": "EUR", "card": str(partner.card.pk)},
                         format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    assert r.status_code == 201
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"

    page = admin_client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200 and b"500" in page.content
    endpoint_page = admin_client.get(
        f"/admin/webhooks/webhookendpoint/{created.endpoint.pk}/change/")
    assert endpoint_page.status_code == 200
    assert created.secret.encode() not in endpoint_page.content

    action = {"action": "redeliver", "_selected_action": [str(delivery.pk)]}
    assert admin_client.post("/admin/webhooks/webhookdelivery/", action).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.requests) == 2
    admin_client.post("/admin/webhooks/webhookdelivery/", action)
    assert len(receiver.requests) == 2  # never twice after a 2xx
