"""Input and output shapes of the credit applications API. Money: integer minor units."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.credit import policy
from accounts.credit.models import CreditApplication, CreditDecision
from creditplatform.serializers import (
    CurrencyField,
    MinorUnitsField,
    StrictDateField,
    StrictIntegerField,
)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only (``"yes"``, ``1`` and ``"true"`` are refused)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class CreditApplicationInput(serializers.Serializer):
    """What the applicant states. ``consent`` must be ``true`` for the consent text of
    ``consent_text_version`` (400 ``consent_required`` otherwise)."""

    currency = CurrencyField()
    requested_limit = MinorUnitsField()
    monthly_income = StrictIntegerField(min_value=0, max_value=10**12)
    monthly_obligations = StrictIntegerField(min_value=0, max_value=10**12)
    employment_status = serializers.ChoiceField(choices=CreditApplication.Employment.choices)
    employment_months = StrictIntegerField(min_value=0, max_value=1200, required=False,
                                           default=0)
    date_of_birth = StrictDateField()
    national_id = serializers.RegexField(r"^[A-Za-z0-9]{4,32}$", write_only=True)
    consent = StrictBooleanField()
    consent_text_version = serializers.CharField(max_length=40)

    def validate_date_of_birth(self, value: dt.date) -> dt.date:
        """400 ``invalid_date_of_birth`` before the idempotent run (nothing stored, so a
        corrected retry may reuse the key); the service checks it again for its other callers.

        Raises:
            policy.InvalidDateOfBirth: future, before 1900-01-01, or over 130 years.
        """
        return policy.date_of_birth_check(value, today=timezone.now().date())


class ReasonOutput(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class DecisionOutput(serializers.ModelSerializer):
    """A decision: outcome, PD, granted limit (minor units), adverse-action reasons, the model
    version and the SHA-256 of its canonical inputs. ``credit_account`` is the id of the credit
    line the approval ``opened`` / ``raised`` / left ``unchanged`` (``credit_line_action``;
    ``none`` and null for refer and decline), as ``GET /api/v1/accounts/{id}/`` shows it."""

    reasons = ReasonOutput(many=True)

    class Meta:
        model = CreditDecision
        fields = ["id", "sequence", "source", "outcome", "pd", "credit_limit", "currency",
                  "reasons", "model_version", "policy_version", "inputs_sha256", "decided_at",
                  "credit_account", "credit_line_action"]
        read_only_fields = fields


class CreditApplicationOutput(serializers.ModelSerializer):
    """An application as its applicant sees it (no national id or date of birth back)."""

    decision = serializers.SerializerMethodField()

    class Meta:
        model = CreditApplication
        fields = ["id", "status", "currency", "requested_limit", "monthly_income",
                  "monthly_obligations", "employment_status", "employment_months",
                  "national_id_last4", "consent_at", "consent_text_version", "created_at",
                  "decision"]

    @extend_schema_field(DecisionOutput(allow_null=True))
    def get_decision(self, obj: CreditApplication) -> dict[str, Any] | None:
        decisions = sorted(obj.decisions.all(), key=lambda d: d.sequence)
        return DecisionOutput(decisions[-1]).data if decisions else None
