"""The cardholder portal in headless Chromium (issue 11): sign in, read the dashboard, freeze a
card, open a dispute, download a statement; on a phone-sized screen too. Screenshots are kept in
test-artifacts/browser/. Every page must load without a console error (CSP included) or a
response >= 400."""

from __future__ import annotations

import re

import pytest

from accounts.models import Card
from fraud.models import Alert
from tests.factories import TEST_PASSWORD, CustomerFactory, add_card
from tests.portal.conftest import charge

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cardholder():
    user = CustomerFactory(username="browser-holder")
    card = add_card(user, "4111111111111111")
    charge(user, amount=1250, merchant="Coffee Corner", card=card)
    charge(user, amount=4999, merchant="Book Shop", card=card, description="novels")
    user.test_card = card
    return user


def sign_in(page, user) -> None:
    page.goto("/portal/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/portal/$"))


def test_cardholder_tasks_in_the_browser(page, shot, cardholder):
    sign_in(page, cardholder)
    # the dashboard: limit 1,000.00, posted 62.49, available 937.51
    assert page.get_by_role("heading", name="Your credit accounts").is_visible()
    balances = page.locator("dl.balances").first.inner_text()
    assert "1,000.00 EUR" in balances and "62.49 EUR" in balances and "937.51 EUR" in balances
    assert page.get_by_role("link", name="Book Shop").is_visible()
    shot(page, "dashboard")

    # the account page: charts drawn on the server, search
    page.get_by_role("link", name=re.compile("Transactions and spending")).click()
    assert page.locator("svg.chart").count() == 2
    page.get_by_label("Search merchant or description").fill("coffee")
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("link", name="Coffee Corner").is_visible()
    assert page.get_by_role("link", name="Book Shop").count() == 0
    shot(page, "account")

    # freeze the card
    page.get_by_role("link", name="Cards").click()
    assert "4111111111111111" not in page.content()
    page.get_by_role("button", name="Freeze card ending 1111").click()
    assert page.get_by_role("button", name="Unfreeze card ending 1111").is_visible()
    assert page.get_by_text("is frozen").is_visible()
    cardholder.test_card.refresh_from_db()
    assert cardholder.test_card.status == Card.Status.FROZEN
    shot(page, "card-frozen")

    # dispute a charge
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name="Book Shop").click()
    page.get_by_label("What happened? (optional)").fill("I was at home that day")
    page.get_by_role("button", name="I don't recognize this charge").click()
    assert page.get_by_role("heading", name="Your case").is_visible()
    assert page.locator(".case-status").inner_text() == "Open"
    assert Alert.objects.get(entry__merchant="Book Shop").source == Alert.Source.DISPUTE
    shot(page, "dispute")

    # download this month's statement
    page.get_by_role("link", name="Statements").click()
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"EUR account \(PDF\)")).first.click()
    data = open(info.value.path(), "rb").read()
    assert data.startswith(b"%PDF")
    shot(page, "statements")

    # turning on the second factor shows a QR code drawn as SVG (no script, CSP-clean)
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Set up two-step sign-in").click()
    assert page.locator(".qr svg").is_visible()
    assert page.get_by_label("6-digit code").is_visible()
    shot(page, "security-totp")
    assert page.console_errors == []


def test_phone_screen_and_keyboard(browser, live_server, shot, cardholder):
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        page.goto("/portal/login/")
        page.keyboard.press("Tab")  # the first stop is the skip link
        assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
        sign_in(page, cardholder)
        for path in ("/portal/", "/portal/cards/", "/portal/statements/"):
            page.goto(path)
            # nothing wider than the screen: no sideways scrolling (WCAG 1.4.10 reflow)
            assert page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"), path
        page.goto(f"/portal/accounts/{cardholder.credit_accounts.get().pk}/")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, "phone-account")
        assert errors == []
    finally:
        context.close()
