"""Fixtures of the credit tests: applicants, KYC profiles, staff for maker-checker, histories."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from accounts import vault
from accounts.credit import services
from accounts.credit.features import BILL_COLUMNS, PAY_COLUMNS, PAYAMT_COLUMNS
from tests.factories import ACTOR, CustomerFactory, UserFactory

NATIONAL_ID = "A123456789"
DATA = "/work/shared/data/credit-default/train.csv"


def history(pay: int, bill_share: float, paid_share: float, limit: float = 200_000.0,
            ) -> dict[str, Any]:
    """A six-month history in the dataset layout: every month status ``pay``, bills at
    ``bill_share`` of the limit, payments at ``paid_share`` of the bill."""
    out: dict[str, Any] = {"LIMIT_BAL": limit}
    for k in range(6):
        out[PAY_COLUMNS[k]] = pay
        out[BILL_COLUMNS[k]] = round(limit * bill_share, 2)
        out[PAYAMT_COLUMNS[k]] = round(limit * bill_share * paid_share, 2)
    return out


#: A clean payer (paid in full, low use) and a delinquent one (3 months late, maxed, no pay).
SAFE = history(pay=-1, bill_share=0.05, paid_share=1.0)
RISKY = history(pay=3, bill_share=0.98, paid_share=0.0, limit=50_000.0)


@pytest.fixture
def applicant(db: None) -> Any:
    """A cardholder whose KYC profile holds :data:`NATIONAL_ID` (identity verifiable)."""
    user = CustomerFactory()
    vault.customer_profile_set(actor=ACTOR, user=user, national_id=NATIONAL_ID,
                               date_of_birth=dt.date(1985, 5, 17))
    return user


def application_data(**over: Any) -> dict[str, Any]:
    """A valid application (EUR, minor units): income 4,000.00 a month, obligations 500.00."""
    data: dict[str, Any] = {
        "currency": "EUR", "requested_limit": 300_000, "monthly_income": 400_000,
        "monthly_obligations": 50_000, "employment_status": "employed",
        "employment_months": 48, "date_of_birth": dt.date(1985, 5, 17),
        "national_id": NATIONAL_ID, "consent": True,
        "consent_text_version": services.CURRENT_CONSENT_VERSION,
    }
    data.update(over)
    return data


def with_history(app: Any, hist: dict[str, Any]) -> Any:
    """Give an undecided application a known alternative-data snapshot (as the ledger would)."""
    app.history = {**hist, "source": "test"}
    app.save(update_fields=["history"])
    return app


def staff_with(*perms: str) -> Any:
    user = UserFactory(is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                         codename=codename))
    return type(user).objects.get(pk=user.pk)  # fresh permission cache
