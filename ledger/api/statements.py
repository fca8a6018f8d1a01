"""Cardholder API for billing statements (issue 10, item 6): thin views over
:mod:`ledger.billing_selectors` (exported by :mod:`ledger.selectors`).

``GET /api/v1/accounts/{id}/statements/``       the account's statements, newest first (paged)
``GET /api/v1/statements/{id}/``                one statement with the entries of its period
``GET /api/v1/accounts/{id}/minimum-payment/``  the current minimum payment and due date

Amounts are integers of minor units of ``currency``; dates are ISO 8601 calendar dates.
Someone else's account or statement answers 404 ``not_found``, as a missing one does.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ledger import selectors
from ledger.api.serializers import EntryOutput
from ledger.billing_models import BillingStatement

STATEMENT_FIELDS = [
    "id", "account", "currency", "period_start", "period_end", "days_in_period",
    "opening_balance", "purchases", "payments", "refunds", "adjustments", "interest", "fees",
    "closing_balance", "apr_bps", "average_daily_balance", "minimum_payment",
    "past_due_amount", "due_date", "paid_in_full_prior", "days_past_due",
    "delinquency_bucket", "created_at",
]


class BillingStatementOutput(serializers.ModelSerializer):
    """A billing statement (read-only). ``closing_balance = opening_balance + purchases -
    payments - refunds + adjustments + interest + fees``."""

    class Meta:
        model = BillingStatement
        fields = STATEMENT_FIELDS
        read_only_fields = fields


class BillingStatementDetailOutput(BillingStatementOutput):
    """A statement with the journal entries of its period, oldest first, and how its closing
    balance splits by the payment allocation order (fees, interest, principal)."""

    entries = serializers.SerializerMethodField()
    closing_fees_outstanding = serializers.IntegerField(read_only=True)
    closing_interest_outstanding = serializers.IntegerField(read_only=True)
    closing_principal = serializers.IntegerField(read_only=True)

    class Meta(BillingStatementOutput.Meta):
        fields = [*STATEMENT_FIELDS, "closing_fees_outstanding",
                  "closing_interest_outstanding", "closing_principal", "entries"]
        read_only_fields = fields

    @extend_schema_field(EntryOutput(many=True))
    def get_entries(self, statement: BillingStatement) -> list[dict[str, Any]]:
        return EntryOutput(selectors.billing_statement_entries(statement=statement),
                           many=True).data


class MinimumPaymentOutput(serializers.Serializer):
    """The current minimum payment: ``remaining`` of ``minimum_payment`` is due by
    ``due_date`` (null before the first statement)."""

    account = serializers.UUIDField(source="account.pk")
    currency = serializers.CharField()
    statement = serializers.UUIDField(source="statement.pk", allow_null=True, default=None)
    statement_balance = serializers.IntegerField()
    minimum_payment = serializers.IntegerField()
    paid_since_statement = serializers.IntegerField()
    remaining = serializers.IntegerField()
    due_date = serializers.DateField(allow_null=True)
    days_past_due = serializers.IntegerField()
    delinquency_bucket = serializers.CharField()


class AccountStatementsApi(generics.ListAPIView):
    """Billing statements of one of the caller's accounts, newest period first."""

    serializer_class = BillingStatementOutput

    def get_queryset(self) -> Any:
        return selectors.billing_statement_list_for(actor=self.request.user,
                                                    account_id=self.kwargs["account_id"])


class StatementDetailApi(APIView):
    """One billing statement of the caller's, with the entries of its period."""

    @extend_schema(responses=BillingStatementDetailOutput)
    def get(self, request: Request, statement_id: str) -> Response:
        statement = selectors.billing_statement_get_for(actor=request.user,
                                                        statement_id=statement_id)
        return Response(BillingStatementDetailOutput(statement).data)


class MinimumPaymentApi(APIView):
    """The current minimum payment and due date of one of the caller's accounts."""

    @extend_schema(responses=MinimumPaymentOutput)
    def get(self, request: Request, account_id: str) -> Response:
        due = selectors.billing_minimum_payment_for(actor=request.user, account_id=account_id)
        return Response(MinimumPaymentOutput(due).data)
