"""JWT endpoints (djangorestframework-simplejwt) with security events recorded."""

from __future__ import annotations

from typing import Any

from axes.exceptions import AxesBackendPermissionDenied
from django.conf import settings
from django_otp import match_token
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.exceptions import AccountLocked, ApplicationError
from accounts.throttling import LoginRateThrottle
from accounts.tokens import PlatformRefreshToken
from compliance import audit
from creditplatform.portal.services import user_sign_out_everywhere


class _Anonymous:
    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        return ("anonymous", "", self.username[:150])


class TokenObtainInput(TokenObtainPairSerializer):
    """``{username, password[, otp_token]}``. Staff accounts must add the current code of their
    confirmed TOTP device whenever the admin requires one (``ADMIN_REQUIRE_OTP``): a staff token
    reaches refunds and reversals, so a password alone must not (PCI DSS v4.0 8.4.2, MFA for
    all access into the cardholder data environment).

    Raises:
        ApplicationError: 401 ``otp_required`` (staff, code missing or wrong).
    """

    token_class = PlatformRefreshToken  # carries the user's token generation
    otp_token = serializers.CharField(required=False, allow_blank=True, max_length=12,
                                      write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        data = super().validate(attrs)
        if self.user.is_staff and settings.ADMIN_REQUIRE_OTP:
            code = str(attrs.get("otp_token") or "").strip()
            if not code or match_token(self.user, code) is None:
                raise ApplicationError("Staff accounts need the current code of their second "
                                       "factor (otp_token).", code="otp_required", status=401)
        return data


class TokenObtainApi(TokenObtainPairView):
    """``{username, password[, otp_token]} -> {access, refresh}``; every attempt is a security
    event.

    Ten failures for one username lock it for 30 minutes (django-axes): 429 ``account_locked``.
    Staff need their TOTP code too (:class:`TokenObtainInput`): 401 ``otp_required``.
    """

    throttle_classes = [LoginRateThrottle]
    serializer_class = TokenObtainInput

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username = str(data.get("username", ""))[:150]
        try:
            response = super().post(request, *args, **kwargs)
        except AxesBackendPermissionDenied:
            audit.record("auth.login", actor=_Anonymous(username), outcome="denied",
                         details={"username": username, "reason": "locked_out"})
            raise AccountLocked(
                "Too many failed logins; this account is locked for 30 minutes.") from None
        except Exception:
            # Django's authenticate() swallows the backend's lockout; axes marks the request.
            locked = getattr(request, "axes_locked_out", False) or getattr(
                request._request, "axes_locked_out", False)
            audit.record("auth.login", actor=_Anonymous(username),
                         outcome="denied" if locked else "failure",
                         details={"username": username,
                                  **({"reason": "locked_out"} if locked else {})})
            if locked:
                raise AccountLocked(
                    "Too many failed logins; this account is locked for 30 minutes.") from None
            raise
        audit.record("auth.login", actor=_Anonymous(username), outcome="success",
                     details={"username": username})
        return response


class TokenRefreshApi(TokenRefreshView):
    """``{refresh} -> {access, refresh}``; the old refresh token is blacklisted (rotation), and
    a blacklisted one presented again revokes every session of its user (reuse detection)."""

    throttle_classes = [LoginRateThrottle]


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
            raise ApplicationError("Token is invalid or expired.", code="token_not_valid",
                                   status=401) from None
        audit.record("auth.logout", actor=None, details={"sub": str(token.get("sub", ""))})
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignOutEverywhereOutput(serializers.Serializer):
    sessions = serializers.IntegerField(help_text="Portal (browser) sessions ended.")
    api_sign_ins = serializers.IntegerField(
        help_text="Refresh tokens (API and app sign-ins) revoked.")


class LogoutAllApi(APIView):
    """Sign out of every device: ``POST`` (no body) -> 200 ``{sessions, api_sign_ins}``.

    Ends every portal session of the caller and revokes every JWT issued to them so far,
    access tokens included (the one of this request too): each answers 401 ``token_revoked``
    from the next request on. Audited as ``auth.sign_out_everywhere``. People only (a partner
    API key is 403).
    """

    @extend_schema(
        request=None, responses={200: SignOutEverywhereOutput},
        summary="Sign out everywhere",
        description="Ends every portal session and revokes every access and refresh token of "
                    "the caller, this request's token included. Tokens issued afterwards work; "
                    "a revoked one answers 401 with code `token_revoked`.")
    def post(self, request: Request) -> Response:
        result = user_sign_out_everywhere(actor=request.user, user=request.user)
        return Response(SignOutEverywhereOutput(result).data)
