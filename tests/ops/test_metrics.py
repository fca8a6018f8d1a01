"""/metrics is not public, and the platform's own metrics move when the events happen."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from fraud.models import FraudScore
from ledger import services

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_are_served_to_allowed_networks_or_a_token_only(settings):
    r = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert r.status_code == 200
    text = r.content.decode()
    assert "creditplatform_charges_total" in text and "django_http_requests" in text
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 404
    settings.METRICS_BEARER_TOKEN = "scrape-token-0123456789"
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789"
                       ).status_code == 200


def test_charges_fraud_decisions_and_score_lag_move(customer):
    account = customer.credit_accounts.get()
    approved = sample("creditplatform_charges_total", outcome="approved")
    preauth = sample("creditplatform_fraud_decisions_total", stage="preauth", decision="approve")
    scored = (sample("creditplatform_fraud_decisions_total", stage="score", decision="pass")
              + sample("creditplatform_fraud_decisions_total", stage="score", decision="alert"))
    lag_count = sample("creditplatform_fraud_score_lag_seconds_count")

    entry = services.charge_create(actor=customer, account_id=account.pk, amount=1200,
                                   currency="EUR").entry
    assert FraudScore.objects.filter(entry=entry).exists()
    assert sample("creditplatform_charges_total", outcome="approved") == approved + 1
    assert sample("creditplatform_fraud_decisions_total", stage="preauth",
                  decision="approve") == preauth + 1
    assert (sample("creditplatform_fraud_decisions_total", stage="score", decision="pass")
            + sample("creditplatform_fraud_decisions_total", stage="score", decision="alert")
            ) == scored + 1
    assert sample("creditplatform_fraud_score_lag_seconds_count") == lag_count + 1
    assert sample("creditplatform_outbox_dispatched_total", topic="fraud.score_entry") >= 1


def test_refusals_and_idempotent_replays_move(customer, api, idem):
    account = customer.credit_accounts.get()
    refused = sample("creditplatform_charges_total", outcome="insufficient_credit")
    replays = sample("creditplatform_idempotent_replays_total")
    http = api(customer)
    url = f"/api/v1/accounts/{account.pk}/charges/"
    r = http.post(url, {"amount": 10_000_000, "currency": "EUR"}, format="json", **idem())
    assert r.status_code == 402
    assert sample("creditplatform_charges_total", outcome="insufficient_credit") == refused + 1
    key = {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
    first = http.post(url, {"amount": 100, "currency": "EUR"}, format="json", **key)
    again = http.post(url, {"amount": 100, "currency": "EUR"}, format="json", **key)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert sample("creditplatform_idempotent_replays_total") == replays + 1
