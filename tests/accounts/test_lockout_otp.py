"""Login lockout (django-axes) and the admin's second factor (django-otp TOTP)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client, override_settings
from django_otp.oath import totp

from accounts.models import SealedTOTPDevice
from compliance.models import AuditEvent
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_ten_failures_lock_the_username_for_thirty_minutes(customer, api):
    client = api()
    codes = [client.post("/api/v1/auth/token/", {"username": customer.username, "password": "x"},
                         format="json").status_code for _ in range(10)]
    assert codes == [401] * 9 + [429]  # the tenth failure locks
    r = client.post("/api/v1/auth/token/", {"username": customer.username,
                                             "password": TEST_PASSWORD}, format="json")
    assert r.status_code == 429 and r.json()["code"] == "account_locked"
    assert AuditEvent.objects.filter(event_type="auth.login", outcome="denied").exists()
    assert AuditEvent.objects.filter(event_type="auth.login", outcome="failure").count() == 9


@pytest.fixture
def agent():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="support_agent"))
    return user


@override_settings(ADMIN_REQUIRE_OTP=True)
def test_admin_requires_a_verified_totp_device(agent):
    c = Client()
    r = c.post("/admin/login/", {"username": agent.username, "password": TEST_PASSWORD})
    assert r.status_code == 200  # back to the form: no device, no admin
    assert c.get("/admin/fraud/alert/").status_code == 302

    secret = b"0123456789abcdefghij"
    device = SealedTOTPDevice(user=agent, name="phone", confirmed=True)
    device.set_secret(secret)
    device.save()
    with connection.cursor() as cur:  # the shared secret is not stored in clear
        cur.execute("SELECT key_sealed FROM accounts_sealedtotpdevice")
        assert secret not in bytes(cur.fetchone()[0])
    r = c.post("/admin/login/", {"username": agent.username, "password": TEST_PASSWORD,
                                 "otp_device": device.persistent_id, "otp_token": "000000"})
    assert c.get("/admin/fraud/alert/").status_code == 302  # wrong code
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp slows down guessing
    device.throttle_reset()
    token = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    r = c.post("/admin/login/", {"username": agent.username, "password": TEST_PASSWORD,
                                 "otp_device": device.persistent_id, "otp_token": token})
    assert r.status_code == 302
    assert c.get("/admin/fraud/alert/").status_code == 200


def test_staff_sessions_idle_out_after_fifteen_minutes():
    from django.conf import settings

    assert settings.SESSION_COOKIE_AGE == 900 and settings.SESSION_SAVE_EVERY_REQUEST
