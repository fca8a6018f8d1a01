"""Ledger API: thin views over :mod:`ledger.services` and :mod:`ledger.selectors`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creditplatform.views import IDEMPOTENCY_HEADER, idempotent_post
from ledger import selectors, services
from ledger.api.serializers import (
    ChargeInput,
    ChargeOutput,
    EntryOutput,
    PaymentInput,
    PaymentOutput,
)

IDEMPOTENCY_PARAM = OpenApiParameter(
    IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True,
    description="1-255 printable ASCII characters; the same key and body replay the stored answer.",
)


class EntryCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class AccountTransactionsApi(generics.ListAPIView):
    """Journal entries of one of the caller's accounts, newest first (cursor pagination)."""

    serializer_class = EntryOutput
    pagination_class = EntryCursorPagination

    def get_queryset(self) -> Any:
        return selectors.entry_list_for(actor=self.request.user,
                                        account_id=self.kwargs["account_id"])


class ChargeCreateApi(APIView):
    @extend_schema(request=ChargeInput, responses={201: ChargeOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, account_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            result = services.charge_create(
                actor=request.user, account_id=account_id, amount=data["amount"],
                currency=data["currency"], card_id=data.get("card"),
                merchant=data.get("merchant", ""), description=data.get("description", ""),
            )
            return 201, ChargeOutput.of(result.entry, decision=result.fraud.decision,
                                        reasons=list(result.fraud.reasons))

        return idempotent_post(request, input_serializer=ChargeInput, operation=operation)


class PaymentCreateApi(APIView):
    @extend_schema(request=PaymentInput, responses={201: PaymentOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, account_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            entry = services.payment_create(actor=request.user, account_id=account_id,
                                            amount=data["amount"], currency=data["currency"])
            return 201, PaymentOutput(entry).data

        return idempotent_post(request, input_serializer=PaymentInput, operation=operation)
