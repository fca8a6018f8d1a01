"""JWT refresh with rotation, reuse detection and one winner per refresh token.

djangorestframework-simplejwt does the signing and validation (one pinned algorithm, its own
key, ``aud``/``iss`` checked, no leeway, ``CHECK_REVOKE_TOKEN`` so a password change voids
every token). This module adds what RFC 9700 (OAuth 2.0 Security BCP, section 4.14.2)
asks of rotating refresh tokens: a refresh token used a second time is treated as stolen, and
every refresh token of its user is revoked.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from compliance import audit


def user_refresh_tokens_revoke(*, user: Any) -> int:
    """Blacklist every outstanding refresh token of ``user``; returns how many were added."""
    added = 0
    for token in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
        _, created = BlacklistedToken.objects.get_or_create(token=token)
        added += int(created)
    return added


class RotatingRefreshSerializer(serializers.Serializer):
    """``{refresh} -> {access, refresh}``: rotate once; a second use revokes the family."""

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        raw = attrs["refresh"]
        try:
            # signature, aud, iss, exp (no leeway) and algorithm, before any database work
            payload = token_backend.decode(raw, verify=True)
        except (TokenError, TokenBackendError):
            raise InvalidToken("Token is invalid or expired.") from None
        if payload.get(api_settings.TOKEN_TYPE_CLAIM) != "refresh":
            raise InvalidToken("Token has wrong type.")
        jti = payload.get(api_settings.JTI_CLAIM)
        with transaction.atomic():
            # One row lock per refresh token: concurrent refreshes queue here, the first wins,
            # the rest find it blacklisted and count as reuse (at most one new pair).
            outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
            if outstanding is None or outstanding.user is None:
                raise InvalidToken("Token is invalid or expired.")
            user = outstanding.user
            if BlacklistedToken.objects.filter(token=outstanding).exists():
                revoked = user_refresh_tokens_revoke(user=user)
                audit.record("auth.refresh_reuse", actor=user, outcome="denied",
                             object_type="user", object_id=user.pk, details={"revoked": revoked})
                new = None  # commit the revocation, then refuse below
            else:
                self._check_user(user, payload)
                BlacklistedToken.objects.create(token=outstanding)
                new = RefreshToken.for_user(user)
                audit.record("auth.refresh", actor=user, object_type="user", object_id=user.pk)
        if new is None:
            raise InvalidToken("Refresh token reuse detected; every session was revoked.")
        return {"access": str(new.access_token), "refresh": str(new)}

    @staticmethod
    def _check_user(user: Any, payload: dict[str, Any]) -> None:
        """The user is still active and has not changed password since the token was made."""
        if not api_settings.USER_AUTHENTICATION_RULE(user):
            raise InvalidToken("No active account found for the given token.")
        if api_settings.CHECK_REVOKE_TOKEN and payload.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise InvalidToken("The password changed; log in again.")
