"""JWT endpoints (djangorestframework-simplejwt) with security events recorded."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from compliance import audit


class _Anonymous:
    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        return ("anonymous", "", self.username[:150])


class TokenObtainApi(TokenObtainPairView):
    """``{username, password} -> {access, refresh}``; every attempt is a security event."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username = str(data.get("username", ""))[:150]
        try:
            response = super().post(request, *args, **kwargs)
        except Exception:
            audit.record("auth.login", actor=_Anonymous(username), outcome="failure",
                         details={"username": username})
            raise
        audit.record("auth.login", actor=_Anonymous(username), outcome="success",
                     details={"username": username})
        return response


class TokenRefreshApi(TokenRefreshView):
    """``{refresh} -> {access, refresh}``; the old refresh token is blacklisted (rotation), and
    a blacklisted one presented again revokes every session of its user (reuse detection)."""


class LogoutInput(serializers.Serializer):
    refresh = serializers.CharField()


class LogoutApi(APIView):
    """Blacklist a refresh token: ``{refresh} -> 204``."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=LogoutInput, responses={204: None})
    def post(self, request: Request) -> Response:
        ser = LogoutInput(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            token = RefreshToken(ser.validated_data["refresh"])
            token.blacklist()
        except TokenError:
            from rest_framework_simplejwt.exceptions import InvalidToken

            raise InvalidToken("Token is invalid or expired.") from None
        audit.record("auth.logout", actor=None, details={"sub": str(token.get("sub", ""))})
        return Response(status=status.HTTP_204_NO_CONTENT)
