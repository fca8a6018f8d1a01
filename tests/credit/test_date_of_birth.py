"""A stated date of birth must be a living person's: not in the future, not before 1900-01-01,
at most 130 years ago (400 ``invalid_date_of_birth``, nothing written). Under 18 is not an
input error but a decision (P01 decline), tested in test_services.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.credit import policy, services
from accounts.credit.models import CreditApplication
from ledger.models import IdempotencyRecord
from tests.credit.conftest import application_data, staff_with
from tests.credit.test_admin import _form, web
from tests.credit.test_admin import no_otp as no_otp  # noqa: F401 - a fixture

URL = "/api/v1/credit-applications/"


@pytest.mark.parametrize(("today", "dob", "ok"), [
    (dt.date(2026, 11, 29), dt.date(2026, 11, 29), True),     # born today (P01 decides)
    (dt.date(2026, 11, 29), dt.date(2026, 11, 30), False),    # tomorrow
    (dt.date(2026, 11, 29), dt.date(9999, 12, 31), False),
    (dt.date(2026, 11, 29), dt.date(1900, 1, 1), True),       # the earliest date
    (dt.date(2026, 11, 29), dt.date(1899, 12, 31), False),
    (dt.date(2026, 11, 29), dt.date(1, 1, 1), False),
    (dt.date(2035, 6, 1), dt.date(1905, 6, 2), True),         # 129 years, 364 days
    (dt.date(2035, 6, 1), dt.date(1905, 6, 1), True),         # 130 today
    (dt.date(2035, 6, 1), dt.date(1904, 6, 2), True),         # 130, turns 131 tomorrow
    (dt.date(2035, 6, 1), dt.date(1904, 6, 1), False),        # 131 today
    (dt.date(2032, 2, 29), dt.date(1901, 3, 1), True),        # leap day: 130
    (dt.date(2032, 2, 29), dt.date(1901, 2, 28), False),      # 131
])
def test_bounds(today, dob, ok):
    if ok:
        assert policy.date_of_birth_check(dob, today=today) == dob
        assert policy.age_on(dob, today) <= policy.MAX_AGE_YEARS
    else:
        with pytest.raises(policy.InvalidDateOfBirth) as exc:
            policy.date_of_birth_check(dob, today=today)
        assert (exc.value.status, exc.value.code) == (400, "invalid_date_of_birth")


def _today() -> dt.date:
    return timezone.now().date()


BAD = [
    pytest.param(lambda: (_today() + dt.timedelta(days=1)).isoformat(), id="tomorrow"),
    pytest.param(lambda: "2999-01-01", id="far-future"),
    pytest.param(lambda: "1899-12-31", id="before-1900"),
    pytest.param(lambda: "0001-01-01", id="year-1"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("dob", BAD)
def test_api_refuses_with_a_stable_code_and_writes_nothing(applicant, api, idem, dob):
    client = api(applicant)
    headers = idem()
    body = {**application_data(), "date_of_birth": dob()}
    r = client.post(URL, body, format="json", **headers)
    assert r.status_code == 400, r.content
    assert r["Content-Type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "invalid_date_of_birth"
    assert problem["latest"] == _today().isoformat() and problem["earliest"] >= "1900-01-01"
    assert not CreditApplication.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    # nothing was stored under the key: the corrected request may reuse it
    r = client.post(URL, {**body, "date_of_birth": "1985-05-17"}, format="json", **headers)
    assert r.status_code == 201, r.content


@pytest.mark.django_db
@pytest.mark.parametrize("dob", ["1985-02-30", "1985-5-17", "\uff11\uff19\uff18\uff15-05-17",
                                 "1985-05-17T00:00:00Z", " 1985-05-17", 19850517])
def test_api_malformed_date_is_a_validation_error(applicant, api, idem, dob):
    r = api(applicant).post(URL, {**application_data(), "date_of_birth": dob},
                            format="json", **idem())
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    assert not CreditApplication.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("dob", [dt.date(1899, 12, 31), dt.date(3000, 1, 1)])
def test_service_refuses_too(applicant, dob):
    with pytest.raises(policy.InvalidDateOfBirth):
        services.credit_application_create(actor=applicant, applicant=applicant,
                                           **application_data(date_of_birth=dob))
    assert not CreditApplication.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("no_otp")
def test_admin_form_shows_the_error(applicant):
    clerk = staff_with("accounts.view_creditapplication", "accounts.add_creditapplication")
    r = web(clerk).post("/admin/accounts/creditapplication/add/",
                        _form(applicant, date_of_birth="1850-01-01"))
    assert r.status_code == 200 and "date_of_birth must be between" in r.content.decode()
    assert not CreditApplication.objects.exists()
