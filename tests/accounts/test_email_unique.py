"""A user's e-mail address is unique, case-insensitively: 400 ``email_taken`` from the services
and the command, a form error in the admin, and a unique index as the last line of defence."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client

from accounts import services
from accounts.models import User
from tests.factories import ACTOR, TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _create(username: str, email: str) -> User:
    user, _ = services.customer_create(actor=ACTOR, username=username, password=TEST_PASSWORD,
                                       credit_limit=1000, currency="EUR", email=email)
    return user


@pytest.mark.parametrize(("first", "second"), [
    ("ann@example.org", "ann@example.org"),
    ("ann@example.org", "ANN@Example.ORG"),
    ("Ann@example.org", "  ann@EXAMPLE.org "),
])
def test_customer_create_refuses_a_taken_address_in_any_case(first, second):
    _create("ann", first)
    with pytest.raises(services.EmailTaken) as exc:
        _create("ann2", second)
    assert (exc.value.status, exc.value.code) == (400, "email_taken")
    assert "example" not in exc.value.message.lower()  # the address is not echoed
    assert not User.objects.filter(username="ann2").exists()


def test_blank_addresses_may_repeat_and_a_malformed_one_is_refused():
    _create("a1", "")
    _create("a2", "")
    with pytest.raises(services.ValidationError) as exc:
        _create("a3", "not-an-address")
    assert exc.value.code == "invalid_email"
    too_long = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com"  # 310: valid shape, > 254
    with pytest.raises(services.ValidationError) as exc:
        _create("a4", too_long)
    assert exc.value.code == "invalid_email"
    assert not User.objects.filter(username="a4").exists()


def test_the_database_refuses_a_duplicate_that_skips_the_service():
    UserFactory(email="bob@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="BOB@example.org")


def test_a_concurrent_creation_that_wins_the_race_is_email_taken(monkeypatch):
    """The check passed, then another transaction took the address: still 400, not a 500."""
    _create("carol", "carol@example.org")
    monkeypatch.setattr(services, "email_clean", lambda email, **_: email.strip())
    with pytest.raises(services.EmailTaken):
        _create("carol2", "Carol@example.org")
    assert User.objects.filter(email__iexact="carol@example.org").count() == 1


def test_create_customer_command_reports_the_code(capsys):
    call_command("create_customer", "--username", "dave", "--password", TEST_PASSWORD,
                 "--credit-limit", "1000", "--currency", "EUR", "--email", "dave@example.org")
    with pytest.raises(CommandError, match="^email_taken: "):
        call_command("create_customer", "--username", "dave2", "--password", TEST_PASSWORD,
                     "--credit-limit", "1000", "--currency", "EUR",
                     "--email", "DAVE@example.org")
    assert not User.objects.filter(username="dave2").exists()


def test_admin_change_form_shows_the_conflict_instead_of_failing(settings):
    settings.ADMIN_REQUIRE_OTP = False
    admin = UserFactory(is_staff=True, username="padmin")
    admin.groups.add(Group.objects.get(name="platform_admin"))
    _create("erin", "erin@example.org")
    frank = _create("frank", "frank@example.org")
    c = Client()
    c.force_login(admin)
    data = {"username": "frank", "email": "ERIN@example.org", "first_name": "",
            "last_name": "", "is_active": "on", "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00", "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "00:00:00"}
    r = c.post(f"/admin/accounts/user/{frank.pk}/change/", data)
    assert r.status_code == 200
    assert "A user with this e-mail address already exists." in r.content.decode()
    frank.refresh_from_db()
    assert frank.email == "frank@example.org"
