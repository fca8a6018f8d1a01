"""The read-only BillingStatement admin (ledger/admin.py): account masked, amounts in the
currency's ISO 4217 exponent, filters, no add/change/delete, visible to support agents and
compliance officers only (least privilege, accounts/roles.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from ledger import billing
from ledger.billing_models import BillingStatement, BillingTerms
from tests.factories import ACTOR, CustomerFactory, UserFactory
from tests.ledger.test_billing import _billing_settings, at, charge  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_otp")]
LIST = "/admin/ledger/billingstatement/"


@pytest.fixture
def no_otp(settings: Any) -> None:
    settings.ADMIN_REQUIRE_OTP = False


def staff(role: str | None) -> Client:
    user = UserFactory(is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    c = Client()
    c.force_login(user)
    return c


def statement(currency: str, amount: int) -> BillingStatement:
    """A closed first cycle (Mar 16 .. Apr 15, 2026) with one charge of ``amount``."""
    user = CustomerFactory(currency=currency, credit_limit=10_000_000)
    acc = user.credit_accounts.get()
    acc.__class__.objects.filter(pk=acc.pk).update(
        created_at=dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC))
    BillingTerms.objects.create(account=acc, apr_bps=1825, cycle_day=15)
    from ledger import services

    services.charge_create(actor=ACTOR, account_id=acc.pk, amount=amount, currency=currency,
                           occurred_at=at(3, 20))
    return billing.statement_close(actor=ACTOR, account_id=acc.pk,
                                   period_end=dt.date(2026, 4, 15))


@pytest.mark.parametrize("role", ["support_agent", "compliance_officer"])
def test_list_masks_the_account_and_shows_amounts_in_the_currency_exponent(role: str) -> None:
    bhd, jpy = statement("BHD", 1_234_567), statement("JPY", 150_000)
    page = staff(role).get(LIST).content.decode()
    for st in (bhd, jpy):
        assert f"…{str(st.account_id)[-4:]}" in page
        assert str(st.account_id) not in page  # never the whole id
    assert "1,234.567" in page  # BHD: 3 decimals
    assert "150,000" in page and "1,500.00" not in page  # JPY: no decimals
    assert "2026-03-16 .. 2026-04-15" in page and "May 10, 2026" in page  # period, due date
    detail = staff(role).get(f"{LIST}{bhd.pk}/change/").content.decode()
    assert "1,234.567" in detail and "BHD" in detail
    assert str(bhd.account_id) not in detail  # nor in the title or breadcrumbs
    assert "18.25 %" in detail


def test_filters_and_exact_account_search() -> None:
    bhd, jpy = statement("BHD", 1_000), statement("JPY", 1_000)
    c = staff("compliance_officer")
    page = c.get(LIST, {"currency": "JPY"}).content.decode()
    assert f"…{str(jpy.account_id)[-4:]}" in page and f"…{str(bhd.account_id)[-4:]}" not in page
    page = c.get(LIST, {"q": str(bhd.account_id)}).content.decode()
    assert f"…{str(bhd.account_id)[-4:]}" in page and f"…{str(jpy.account_id)[-4:]}" not in page
    assert c.get(LIST, {"delinquency_bucket__exact": "current"}).status_code == 200


def test_nobody_adds_changes_or_deletes_statements() -> None:
    st = statement("EUR", 1_000)
    c = staff("compliance_officer")
    assert c.get(f"{LIST}add/").status_code == 403
    assert c.post(f"{LIST}add/", {}).status_code == 403
    assert c.post(f"{LIST}{st.pk}/delete/", {"post": "yes"}).status_code == 403
    c.post(f"{LIST}{st.pk}/change/", {"minimum_payment": "0"})
    assert BillingStatement.objects.get(pk=st.pk).minimum_payment == st.minimum_payment
    page = c.get(f"{LIST}{st.pk}/change/").content.decode()
    assert 'name="_save"' not in page


@pytest.mark.parametrize("role", ["platform_admin", None])
def test_staff_without_the_permission_do_not_see_statements(role: str | None) -> None:
    statement("EUR", 1_000)
    assert staff(role).get(LIST).status_code == 403


def test_cardholders_are_sent_to_the_login() -> None:
    st = statement("EUR", 1_000)
    holder = Client()
    holder.force_login(st.account.owner)
    r = holder.get(LIST)
    assert r.status_code == 302 and "/login/" in r["Location"]
