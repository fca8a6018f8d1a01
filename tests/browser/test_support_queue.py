"""A support agent in headless Chromium (issue 7, item 6; issue 6, part 5): logs in to the admin
with a second factor, opens the riskiest alert of the queue, tries to decide without a note
(refused), then confirms fraud with a note. The decision is audited and becomes a fraud label.

Screenshots land in ``test-artifacts/browser/``.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django_otp.oath import totp

from accounts.models import SealedTOTPDevice
from compliance.models import AuditEvent
from fraud.models import Alert, FraudLabel
from ledger import services as ledger
from tests.factories import TEST_PASSWORD, CustomerFactory, UserFactory, add_card

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent():
    user = UserFactory(is_staff=True, username="agent-browser")
    user.groups.add(Group.objects.get(name="support_agent"))
    device = SealedTOTPDevice(user=user, name="phone", confirmed=True)
    device.set_secret(b"agent-browser-secret-20!")
    device.save()
    return user, device


@pytest.fixture
def alerts():
    customer = CustomerFactory()
    card = add_card(customer)
    account = customer.credit_accounts.get()

    def charge(amount: int) -> object:
        return ledger.charge_create(actor=customer, account_id=account.pk, amount=amount,
                                    currency="EUR", card_id=card.pk, merchant="m-77").entry

    big, small = charge(48_000), charge(900)
    # Scoring runs eagerly after each charge and may already have opened alerts: set the queue
    # to a known state.
    Alert.objects.all().delete()
    risky = Alert.objects.create(entry=big, account=account, card=card, score=0.94,
                                 reasons=["amount_above_history", "model_decline"])
    Alert.objects.create(entry=small, account=account, card=card, score=0.58,
                         reasons=["model_review"])
    return risky


def login_with_totp(page, user, device) -> None:
    page.goto("/admin/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("input[type=submit][value='Log in']")
    page.wait_for_selector("select[name=otp_device]")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.select_option("select[name=otp_device]", device.persistent_id)
    token = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.fill("input[name=otp_token]", f"{token:06d}")
    page.click("input[type=submit][value='Log in']")
    page.wait_for_url("**/admin/")


@override_settings(ADMIN_REQUIRE_OTP=True)
def test_support_agent_decides_an_alert(page, shot, agent, alerts):
    user, device = agent
    risky = alerts
    login_with_totp(page, user, device)

    page.goto("/admin/fraud/alert/?queue=open")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert str(risky.pk) in rows.first.inner_html()  # riskiest first
    shot(page, "1-queue")
    rows.first.locator("a").first.click()
    page.wait_for_selector("text=Record decision")
    assert "411111******1111" in page.content() and "4111111111111111" not in page.content()
    shot(page, "2-case")

    # No note: the form refuses and nothing is decided.
    page.check("input[name=decision][value=confirm_fraud]")
    page.click("input[type=submit][value='Record decision']")
    page.wait_for_selector(".errorlist")
    risky.refresh_from_db()
    assert risky.status == Alert.Status.OPEN
    assert not FraudLabel.objects.filter(entry=risky.entry).exists()
    # The refused form answers 400 (a browser console error): expected here, and only here.
    assert [e for e in page.console_errors if "/decide/" in e]
    page.console_errors.clear()

    page.check("input[name=decision][value=confirm_fraud]")
    page.fill("textarea[name=note]", "Cardholder called: card lost on the train.")
    page.click("input[type=submit][value='Record decision']")
    page.wait_for_load_state()
    shot(page, "3-decided")

    risky.refresh_from_db()
    assert risky.status == Alert.Status.CONFIRMED_FRAUD
    label = FraudLabel.objects.get(entry=risky.entry)
    assert label.is_fraud is True
    event = AuditEvent.objects.get(event_type="fraud.alert.decided", object_id=str(risky.pk))
    assert event.actor_id == str(user.pk) and event.outcome == "success"
    assert page.console_errors == []
