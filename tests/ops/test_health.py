"""/healthz and /readyz (django-health-check checks): each dependency named when it fails."""

from __future__ import annotations

import pytest
from django.test import Client

from creditplatform import crypto
from creditplatform.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_dependencies():
    r = Client().get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_checks_database_cache_broker_and_keyring():
    r = Client().get("/readyz")
    assert r.status_code == 200, r.content
    assert r.json() == {"status": "ok", "checks": {
        "database": "ok", "cache": "ok", "broker": "ok", "keyring": "ok"}}


def test_readyz_names_a_broker_that_is_down(settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(celery_app.conf, "broker_url", "amqp://guest:guest@127.0.0.1:9//")
    r = Client().get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["broker"].startswith("error") and checks["database"] == "ok"


def test_readyz_names_a_broken_key_ring(monkeypatch):
    def broken():
        raise crypto.DecryptionError("FIELD_KEK must be 32 bytes")

    monkeypatch.setattr(crypto, "keyring", broken)
    r = Client().get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["keyring"].startswith("error")
    assert r.json()["status"] == "unavailable"


def test_readyz_against_a_real_rabbitmq_broker(settings, monkeypatch):
    """The broker check opens a real AMQP connection (the local RabbitMQ)."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=0.5).close()
    except OSError:
        pytest.skip("no local RabbitMQ")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(celery_app.conf, "broker_url", "amqp://guest:guest@127.0.0.1:5672//")
    r = Client().get("/readyz")
    assert r.json()["checks"]["broker"] == "ok", r.content
