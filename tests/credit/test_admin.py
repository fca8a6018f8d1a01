"""The credit admin: applications entered by staff through the service (consent required),
decisions shown without personal data, maker-checker requests approved by a second person."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.credit.models import CreditApplication, CreditChangeRequest
from accounts.models import CreditAccount
from tests.credit.conftest import NATIONAL_ID, staff_with

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_otp")]
VIEW = "accounts.view_creditapplication"
ADD = "accounts.add_creditapplication"
MAKER = ("accounts.add_creditchangerequest", "accounts.view_creditchangerequest",
         "accounts.change_creditchangerequest")
CHECKER = ("accounts.approve_creditchangerequest", "accounts.view_creditchangerequest",
           "accounts.change_creditchangerequest")


@pytest.fixture
def no_otp(settings):
    settings.ADMIN_REQUIRE_OTP = False


def web(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _form(applicant, **over):
    data = {"applicant": str(applicant.pk), "currency": "EUR", "requested_limit": "300000",
            "monthly_income": "400000", "monthly_obligations": "50000",
            "employment_status": "employed", "employment_months": "12",
            "date_of_birth": "1985-05-17", "national_id": NATIONAL_ID, "consent": "on",
            "consent_text_version": "2026-11"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def test_staff_enters_an_application_and_sees_the_decision(applicant):
    clerk = staff_with(VIEW, ADD)
    c = web(clerk)
    r = c.post("/admin/accounts/creditapplication/add/", _form(applicant, consent=None))
    assert r.status_code == 200 and not CreditApplication.objects.exists()  # no consent
    r = c.post("/admin/accounts/creditapplication/add/", _form(applicant))
    assert r.status_code == 302, r.content.decode()[:2000]
    app = CreditApplication.objects.get()
    assert app.applicant == applicant and app.decisions.count() == 1
    page = c.get(f"/admin/accounts/creditapplication/{app.pk}/change/").content.decode()
    assert app.latest_decision.inputs_sha256 in page
    assert NATIONAL_ID not in page and "1985-05-17" not in page


def test_limit_increase_approved_in_the_admin_by_a_second_person(applicant):
    account = applicant.credit_accounts.get()
    maker, checker = staff_with(*MAKER, *CHECKER), staff_with(*CHECKER)
    r = web(maker).post("/admin/accounts/creditchangerequest/add/", {
        "kind": "limit_increase", "account": str(account.pk), "credit_limit": "900000",
        "reason": "salary raise documented", "outcome": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    req = CreditChangeRequest.objects.get()
    assert req.status == "pending" and req.requested_by == maker
    action = {"action": "approve", "_selected_action": [str(req.pk)]}
    web(maker).post("/admin/accounts/creditchangerequest/", action)  # self-approval refused
    assert CreditChangeRequest.objects.get().status == "pending"
    web(checker).post("/admin/accounts/creditchangerequest/", action)
    assert CreditChangeRequest.objects.get().status == "approved"
    assert CreditAccount.objects.get(pk=account.pk).credit_limit == 900_000
