"""A compliance officer in headless Chromium (issue 7, item 6): logs in to the admin with a
second factor (TOTP), filters the audit events, exports them as CSV, and opens the console.

Screenshots land in ``test-artifacts/browser/`` (the ``shot`` fixture, tests/browser/conftest.py).
The page must raise no console error: a style or script blocked by the CSP would show as one.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django_otp.oath import totp

from accounts.models import SealedTOTPDevice
from compliance import audit
from compliance.audit import SystemActor
from compliance.models import AuditEvent
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def officer():
    user = UserFactory(is_staff=True, username="officer-browser")
    user.groups.add(Group.objects.get(name="compliance_officer"))
    device = SealedTOTPDevice(user=user, name="phone", confirmed=True)
    device.set_secret(b"officer-browser-secret-20")
    device.save()
    return user, device


@override_settings(ADMIN_REQUIRE_OTP=True)
def test_officer_logs_in_with_totp_filters_and_exports(page, shot, officer, tmp_path):
    user, device = officer
    actor = SystemActor("browser-test")
    for outcome in ("denied", "denied", "denied", "success"):
        audit.record("browser.probe", actor=actor, outcome=outcome, object_type="route",
                     object_id="/api/v1/accounts/")

    page.goto("/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    shot(page, "1-login")
    page.click("input[type=submit][value='Log in']")
    # django-otp's admin form: the password is right, now choose the device and give its code
    page.wait_for_selector("select[name=otp_device]")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.select_option("select[name=otp_device]", device.persistent_id)
    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.fill("input[name=otp_token]", f"{token:06d}")
    shot(page, "2-second-factor")
    page.click("input[type=submit][value='Log in']")
    page.wait_for_url("**/admin/")
    assert AuditEvent.objects.filter(event_type="auth.login", actor_id=str(user.pk),
                                     outcome="success").exists()

    page.goto("/admin/compliance/auditevent/")
    page.click("#changelist-filter a[href*='outcome__exact=denied']")
    page.wait_for_url("**outcome__exact=denied**")
    page.fill("#searchbar", "browser")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=browser**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    shot(page, "3-filtered")

    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    target: Path = tmp_path / download.suggested_filename
    download.save_as(str(target))
    body = target.read_bytes()
    exported = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(exported) == 3
    assert {r["outcome"] for r in exported} == {"denied"}
    assert {r["event_type"] for r in exported} == {"browser.probe"}
    event = AuditEvent.objects.filter(event_type="export.csv").latest("id")
    assert event.actor_id == str(user.pk)
    assert event.details["rows"] == 3
    assert event.details["sha256"] == hashlib.sha256(body).hexdigest()

    page.goto("/admin/compliance/auditevent/console/")
    assert page.locator("#seal-status").is_visible()
    assert page.locator("figure svg").count() == 3
    shot(page, "4-console")
    page.click("#verify-form input[type=submit]")
    assert "Verification passed" in page.locator("#verify-result").inner_text()
    shot(page, "5-verified")
    assert page.console_errors == []
