"""The webhooks API: partners manage their own endpoints; secrets are shown once and stored
encrypted; unsafe URLs and unknown event types are refused."""

from __future__ import annotations

import pytest

from accounts import api_clients
from compliance.models import AuditEvent
from creditplatform.webhooks import services
from creditplatform.webhooks.models import WebhookEndpoint
from tests.factories import ACTOR

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/endpoints/"
PUBLIC = "https://93.184.215.14/hooks"


def _create(http, **body):
    body = {"url": PUBLIC, "event_types": ["charge.approved"], **body}
    return http.post(URL, body, format="json")


def test_create_shows_the_secret_once_and_stores_it_encrypted(partner, partner_api):
    r = _create(partner_api, event_types=["refund.created", "charge.approved"])
    assert r.status_code == 201, r.content
    body = r.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["event_types"] == ["charge.approved", "refund.created"]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.client_id == partner.client.pk
    assert secret.encode() not in bytes(endpoint.secret_encrypted)
    assert services.endpoint_secrets(endpoint) == [secret]
    # never again: neither the list nor the detail carries it
    listed = partner_api.get(URL).json()
    detail = partner_api.get(f"{URL}{body['id']}/").json()
    assert secret not in str(listed) and secret not in str(detail)
    assert "secret" not in detail
    assert AuditEvent.objects.filter(event_type="webhook.endpoint_created",
                                     object_id=body["id"]).exists()


@pytest.mark.parametrize("url", ["http://93.184.215.14/h", "https://127.0.0.1/h",
                                 "https://169.254.169.254/h", "https://10.0.0.1/h",
                                 "https://[::1]/h"])
def test_unsafe_urls_are_refused_at_create(partner_api, url):
    r = _create(partner_api, url=url)
    assert r.status_code == 400
    assert r["Content-Type"].startswith("application/problem+json")
    assert r.json()["code"] == "unsafe_webhook_url"
    assert not WebhookEndpoint.objects.exists()


def test_unknown_event_type_is_a_validation_error(partner_api):
    r = _create(partner_api, event_types=["charge.exploded"])
    assert r.status_code == 400 and r.json()["code"] == "validation_error"


def test_rotation_keeps_the_old_secret_signing_for_the_overlap(partner_api):
    created = _create(partner_api).json()
    r = partner_api.post(f"{URL}{created['id']}/rotate-secret/", {"overlap_seconds": 600},
                         format="json")
    assert r.status_code == 200, r.content
    new = r.json()["secret"]
    assert new != created["secret"] and r.json()["previous_secret_expires_at"]
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert services.endpoint_secrets(endpoint) == [new, created["secret"]]
    # overlap 0 (a leaked secret): only the new one signs
    r = partner_api.post(f"{URL}{created['id']}/rotate-secret/", {"overlap_seconds": 0},
                         format="json")
    endpoint.refresh_from_db()
    assert services.endpoint_secrets(endpoint) == [r.json()["secret"]]


def test_delete_stops_the_endpoint_and_hides_it(partner_api):
    created = _create(partner_api).json()
    assert partner_api.delete(f"{URL}{created['id']}/").status_code == 204
    assert partner_api.get(f"{URL}{created['id']}/").status_code == 404
    assert partner_api.get(URL).json()["results"] == []
    assert WebhookEndpoint.objects.get(pk=created["id"]).deleted_at is not None


def test_another_partners_endpoint_is_not_found(partner_api):
    other = api_clients.api_client_create(actor=ACTOR, name="other-hooks",
                                          scopes=["webhooks:manage"])
    theirs = services.endpoint_create(actor=ACTOR, client=other, url=PUBLIC,
                                      event_types=["charge.approved"]).endpoint
    assert partner_api.get(f"{URL}{theirs.pk}/").status_code == 404
    assert partner_api.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert partner_api.post(f"{URL}{theirs.pk}/rotate-secret/", {}, format="json"
                            ).status_code == 404
    assert partner_api.get(URL).json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.deleted_at is None


def test_service_refuses_a_partner_without_the_scope(partner):
    partner.client.scopes = ["charges:write"]
    partner.client.save()
    from creditplatform.webhooks.exceptions import ScopeRequired

    with pytest.raises(ScopeRequired):
        services.endpoint_create(actor=partner.client, client=partner.client, url=PUBLIC,
                                 event_types=["charge.approved"])
