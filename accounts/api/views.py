"""Accounts API: thin views (parse, authorize through selectors, call a service, answer)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import AccountOutput, CardInput, CardOutput, MeOutput
from creditplatform.views import IDEMPOTENCY_HEADER, idempotent_post

IDEMPOTENCY_PARAM = OpenApiParameter(
    IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=True,
    description="1-255 printable ASCII characters; scope is the caller.",
)


class MeApi(APIView):
    @extend_schema(responses=MeOutput)
    def get(self, request: Request) -> Response:
        return Response(MeOutput(request.user).data)


class AccountListApi(generics.ListAPIView):
    serializer_class = AccountOutput

    def get_queryset(self) -> Any:
        return selectors.account_list_for(actor=self.request.user)


class AccountDetailApi(APIView):
    @extend_schema(responses=AccountOutput)
    def get(self, request: Request, account_id: str) -> Response:
        account = selectors.account_get_for(actor=request.user, account_id=account_id)
        return Response(AccountOutput(account).data)


class CardListCreateApi(generics.ListAPIView):
    serializer_class = CardOutput
    partner_scopes = {"GET": "cards:read"}

    def get_queryset(self) -> Any:
        return selectors.card_list_for(actor=self.request.user)

    @extend_schema(request=CardInput, responses={201: CardOutput}, parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            card = services.card_create(
                actor=request.user, account_id=data["account"], pan=data["pan"],
                exp_month=data["exp_month"], exp_year=data["exp_year"],
            )
            return 201, CardOutput(card).data

        return idempotent_post(request, input_serializer=CardInput, operation=operation)


class CardDetailApi(APIView):
    partner_scopes = {"GET": "cards:read"}

    @extend_schema(responses=CardOutput)
    def get(self, request: Request, card_id: str) -> Response:
        card = selectors.card_get_for(actor=request.user, card_id=card_id)
        return Response(CardOutput(card).data)
