"""Credit applications API: thin views (parse, authorize through selectors, call a service)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.credit_serializers import CreditApplicationInput, CreditApplicationOutput
from accounts.api.views import IDEMPOTENCY_PARAM
from accounts.credit import selectors, services
from creditplatform.views import idempotent_post


class CreditApplicationListCreateApi(generics.ListAPIView):
    """``GET``: the caller's own applications. ``POST``: apply (``Idempotency-Key``); the
    answer carries the decision with its reasons. People only: no partner scope opens it."""

    serializer_class = CreditApplicationOutput

    def get_queryset(self) -> Any:
        return selectors.credit_application_list_for(actor=self.request.user)

    @extend_schema(request=CreditApplicationInput, responses={201: CreditApplicationOutput},
                   parameters=[IDEMPOTENCY_PARAM])
    def post(self, request: Request) -> Response:
        def operation(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            app = services.credit_application_create(actor=request.user, applicant=request.user,
                                                     **data)
            app = selectors.credit_application_get_for(actor=request.user,
                                                       application_id=app.pk)
            return 201, CreditApplicationOutput(app).data

        return idempotent_post(request, input_serializer=CreditApplicationInput,
                               operation=operation)


class CreditApplicationDetailApi(APIView):
    @extend_schema(responses=CreditApplicationOutput)
    def get(self, request: Request, application_id: str) -> Response:
        app = selectors.credit_application_get_for(actor=request.user,
                                                   application_id=application_id)
        return Response(CreditApplicationOutput(app).data)
