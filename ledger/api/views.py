"""Ledger API: thin views over :mod:`ledger.services` and :mod:`ledger.selectors`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creditplatform.views import IDEMPOTENCY_HEADER, idempotent_post
from ledger import selectors, services
from ledger.api.serializers import (
    AuthorizationInput,
    CaptureInput,
    ChargeInput,
    ChargeOutput,
    EmptyInput,
    EntryOutput,
    HoldOutput,
    PaymentInput,
    PaymentOutput,
    RefundInput,
    ReversalInput,
    StatementOutput,
    StatementQuery,
)

IDEMPOTENCY_PARAM = OpenApiParameter(
    IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True,
    description="1-255 printable ASCII characters; the same key and body replay the stored answer.",
)


class EntryCursorPagination(CursorPagination):
    """Newest first; a tampered cursor answers 404 ``not_found`` (never a 500)."""

    ordering = ("-created_at", "-id")
    page_size = 50

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise NotFound("Invalid cursor.") from None


class AccountTransactionsApi(generics.ListAPIView):
    """Journal entries of one of the caller's accounts, newest first (cursor pagination)."""

    serializer_class = EntryOutput
    pagination_class = EntryCursorPagination

    def get_queryset(self) -> Any:
        return selectors.entry_list_for(actor=self.request.user,
                                        account_id=self.kwargs["account_id"])


class ChargeCreateApi(APIView):
    partner_scopes = {"POST": "charges:write"}

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


class AuthorizationCreateApi(APIView):
    partner_scopes = {"POST": "authorizations:write"}

    @extend_schema(request=AuthorizationInput, responses={201: HoldOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, account_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            hold, _ = services.hold_create(
                actor=request.user, account_id=account_id, amount=data["amount"],
                currency=data["currency"], card_id=data.get("card"),
                merchant=data.get("merchant", ""), description=data.get("description", ""),
                ttl_seconds=data.get("expires_in"),
            )
            return 201, HoldOutput(hold).data

        return idempotent_post(request, input_serializer=AuthorizationInput, operation=operation)


class AuthorizationDetailApi(APIView):
    partner_scopes = {"GET": "authorizations:write"}

    @extend_schema(responses=HoldOutput)
    def get(self, request: Request, hold_id: str) -> Response:
        return Response(HoldOutput(selectors.hold_get_for(actor=request.user,
                                                          hold_id=hold_id)).data)


class AuthorizationCaptureApi(APIView):
    partner_scopes = {"POST": "authorizations:write"}

    @extend_schema(request=CaptureInput, responses={201: HoldOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, hold_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            hold = services.hold_capture(actor=request.user, hold_id=hold_id,
                                         amount=data.get("amount"))
            return 201, HoldOutput(hold).data

        return idempotent_post(request, input_serializer=CaptureInput, operation=operation)


class AuthorizationVoidApi(APIView):
    partner_scopes = {"POST": "authorizations:write"}

    @extend_schema(request=EmptyInput, responses={200: HoldOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, hold_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            return 200, HoldOutput(services.hold_void(actor=request.user, hold_id=hold_id)).data

        return idempotent_post(request, input_serializer=EmptyInput, operation=operation)


class RefundCreateApi(APIView):
    partner_scopes = {"POST": "refunds:write"}

    @extend_schema(request=RefundInput, responses={201: EntryOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, entry_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            entry = services.refund_create(actor=request.user, entry_id=entry_id,
                                           amount=data["amount"])
            return 201, EntryOutput(entry).data

        return idempotent_post(request, input_serializer=RefundInput, operation=operation)


class ReversalCreateApi(APIView):
    @extend_schema(request=ReversalInput, responses={201: EntryOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request, entry_id: str) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            entry = services.reversal_create(actor=request.user, entry_id=entry_id,
                                             reason=data["reason"])
            return 201, EntryOutput(entry).data

        return idempotent_post(request, input_serializer=ReversalInput, operation=operation)


class StatementApi(generics.GenericAPIView):
    """A period's opening and closing balance, totals and entries (cursor-paginated)."""

    serializer_class = EntryOutput
    pagination_class = EntryCursorPagination

    @extend_schema(parameters=[StatementQuery], responses=StatementOutput)
    def get(self, request: Request, account_id: str) -> Response:
        query = StatementQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        statement = selectors.statement_for(actor=request.user, account_id=account_id,
                                            start=query.validated_data["start"],
                                            end=query.validated_data["end"])
        page = self.paginate_queryset(statement.entries)
        body = dict(StatementOutput(statement).data)
        body["entries"] = EntryOutput(page, many=True).data
        body["next"] = self.paginator.get_next_link()
        body["previous"] = self.paginator.get_previous_link()
        return Response(body)
