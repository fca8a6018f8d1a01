"""Webhooks API for partner API clients (scope ``webhooks:manage``): thin views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiClient
from accounts.permissions import PartnerScopes
from creditplatform.webhooks import selectors, services
from creditplatform.webhooks.api.serializers import (
    EndpointInput,
    EndpointOutput,
    EndpointSecretOutput,
    RotateInput,
)

SCOPE = services.SCOPE


class PartnersOnly(BasePermission):
    """Webhook endpoints belong to partner applications; people get 403."""

    message = "Webhook endpoints are managed with a partner API key."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, ApiClient)


PERMISSIONS = [IsAuthenticated, PartnersOnly, PartnerScopes]


def _with_secret(result: services.EndpointWithSecret) -> dict[str, Any]:
    data = dict(EndpointOutput(result.endpoint).data)
    data["secret"] = result.secret
    return data


class EndpointListCreateApi(generics.ListAPIView):
    permission_classes = PERMISSIONS
    partner_scopes = {"GET": SCOPE, "POST": SCOPE}
    serializer_class = EndpointOutput

    def get_queryset(self) -> Any:
        return selectors.endpoint_list_for(actor=self.request.user)

    @extend_schema(request=EndpointInput, responses={201: EndpointSecretOutput})
    def post(self, request: Request) -> Response:
        ser = EndpointInput(data=request.data)
        ser.is_valid(raise_exception=True)
        result = services.endpoint_create(actor=request.user, client=request.user,
                                          **ser.validated_data)
        return Response(_with_secret(result), status=201)


class EndpointDetailApi(APIView):
    permission_classes = PERMISSIONS
    partner_scopes = {"GET": SCOPE, "DELETE": SCOPE}

    @extend_schema(responses=EndpointOutput)
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get_for(actor=request.user, endpoint_id=endpoint_id)
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get_for(actor=request.user, endpoint_id=endpoint_id)
        services.endpoint_delete(actor=request.user, endpoint=endpoint)
        return Response(status=204)


class EndpointRotateSecretApi(APIView):
    permission_classes = PERMISSIONS
    partner_scopes = {"POST": SCOPE}

    @extend_schema(request=RotateInput, responses={200: EndpointSecretOutput})
    def post(self, request: Request, endpoint_id: str) -> Response:
        ser = RotateInput(data=request.data if isinstance(request.data, dict) else {})
        ser.is_valid(raise_exception=True)
        endpoint = selectors.endpoint_get_for(actor=request.user, endpoint_id=endpoint_id)
        result = services.endpoint_rotate_secret(
            actor=request.user, endpoint=endpoint,
            overlap_seconds=ser.validated_data.get("overlap_seconds"))
        return Response(_with_secret(result))
