"""A platform admin manages users without a way up: no superuser flag, no per-user
permissions, no own-account edits, no staff passwords, no view of superusers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import User
from tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def no_otp(settings):
    settings.ADMIN_REQUIRE_OTP = False  # the second factor is tested in test_lockout_otp.py


@pytest.fixture
def padmin() -> User:
    user = UserFactory(is_staff=True, username="padmin")
    user.groups.add(Group.objects.get(name="platform_admin"))
    return user


def web(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _form(user: User, **extra: str) -> dict[str, str]:
    data = {"username": user.username, "email": user.email, "first_name": "", "last_name": "",
            "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00"}
    data.update(extra)
    return data


def test_cannot_make_oneself_superuser(padmin):
    r = web(padmin).post(f"/admin/accounts/user/{padmin.pk}/change/",
                         _form(padmin, is_staff="on", is_superuser="on"))
    assert r.status_code == 403
    padmin.refresh_from_db()
    assert not padmin.is_superuser


def test_superuser_flag_and_permissions_are_read_only_on_others(padmin):
    customer = CustomerFactory()
    c = web(padmin)
    page = c.get(f"/admin/accounts/user/{customer.pk}/change/")
    assert page.status_code == 200
    assert b'name="is_superuser"' not in page.content
    assert b'name="user_permissions"' not in page.content
    c.post(f"/admin/accounts/user/{customer.pk}/change/",
           _form(customer, is_superuser="on", is_staff="on"))
    customer.refresh_from_db()
    assert not customer.is_superuser


def test_staff_passwords_and_superusers_are_out_of_reach(padmin):
    other_staff = UserFactory(is_staff=True)
    root = UserFactory(is_staff=True, is_superuser=True)
    customer = CustomerFactory()
    c = web(padmin)
    assert c.get(f"/admin/accounts/user/{other_staff.pk}/password/").status_code == 403
    assert c.get(f"/admin/accounts/user/{padmin.pk}/password/").status_code == 403
    assert c.get(f"/admin/accounts/user/{customer.pk}/password/").status_code == 200
    listing = c.get("/admin/accounts/user/").content.decode()
    assert root.username not in listing and customer.username in listing
    assert c.get(f"/admin/accounts/user/{root.pk}/change/").status_code in (302, 404)


def test_group_permissions_cannot_be_edited_by_the_role(padmin):
    group = Group.objects.get(name="platform_admin")
    r = web(padmin).post(f"/admin/auth/group/{group.pk}/change/",
                         {"name": group.name, "permissions": []})
    assert r.status_code == 403
    assert group.permissions.exists()
