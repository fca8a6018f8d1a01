"""JWT revocation: refresh rotation with reuse detection, and a per-user token generation.

djangorestframework-simplejwt does the signing and validation (one pinned algorithm, its own
key, ``aud``/``iss`` checked, no leeway, ``CHECK_REVOKE_TOKEN`` so a password change voids
every token). This module adds:

* what RFC 9700 (OAuth 2.0 Security BCP, section 4.14.2) asks of rotating refresh tokens: a
  refresh token used a second time is treated as stolen, and every token of its user is
  revoked;
* a generation per user (``User.token_version``, claim ``token_version`` in every access and
  refresh token :class:`PlatformRefreshToken` issues). The authentication class compares the
  claim with the user row simplejwt loads anyway (no extra query) and refuses an older token
  with 401 ``token_revoked``. The generation is raised by :func:`user_tokens_revoke` (sign out
  everywhere, refresh reuse) and, in PostgreSQL, by a trigger on the user row (migration
  ``accounts.0008``) when the user is deactivated or their staff/superuser flag changes; the
  trigger also never lets it go down (a stale instance saved in full cannot resurrect tokens).
  A token without the claim (issued before it existed, or by simplejwt's own classes) counts
  as generation 0: it works only until the first revocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import F
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import (
    AuthenticationFailed,
    InvalidToken,
    TokenBackendError,
    TokenError,
)
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import BlacklistMixin, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, get_md5_hash_password

from accounts.models import User
from compliance import audit

#: The claim carrying ``User.token_version`` in access and refresh tokens.
TOKEN_VERSION_CLAIM = "token_version"


class TokenRevoked(AuthenticationFailed):
    """401 ``token_revoked``: the token predates the user's last revocation (sign out
    everywhere, deactivation, staff flag change, refresh reuse); sign in again."""

    default_detail = "This token was revoked; sign in again."
    default_code = "token_revoked"


def token_is_current(payload: Mapping[str, Any], user: Any) -> bool:
    """Whether a validated token's ``token_version`` claim (0 when absent) equals the user's
    generation. Reads only ``user.token_version``: no query when the user row is loaded."""
    return payload.get(TOKEN_VERSION_CLAIM, 0) == user.token_version


def token_revoked_refuse(*, user: Any, token_type: str) -> TokenRevoked:
    """Record the refusal of a revoked ``token_type`` ("access"/"refresh") token of ``user``
    as the security event ``auth.token_revoked`` (outcome ``denied``, details ``{"kind":
    token_type}``) and return the exception to raise. The caller raises it outside any
    transaction it rolls back."""
    audit.record("auth.token_revoked", actor=user, outcome="denied", object_type="user",
                 object_id=user.pk, details={"kind": token_type})
    return TokenRevoked()


class PlatformRefreshToken(RefreshToken):
    """simplejwt's refresh token with the user's ``token_version`` claim; the access token it
    makes (``.access_token``) copies the claim. Every token the API issues is made here."""

    @classmethod
    def for_user(cls, user: Any) -> PlatformRefreshToken:
        """A new refresh token for ``user``, recorded as outstanding (by ``jti``) with the
        claim already in it, as simplejwt's ``BlacklistMixin.for_user`` records its own."""
        token = super(BlacklistMixin, cls).for_user(user)  # the claims, no outstanding row yet
        token[TOKEN_VERSION_CLAIM] = user.token_version
        OutstandingToken.objects.create(
            user=user, jti=token[api_settings.JTI_CLAIM], token=str(token),
            created_at=token.current_time, expires_at=datetime_from_epoch(token["exp"]))
        return token


def user_refresh_tokens_revoke(*, user: Any) -> int:
    """Blacklist every outstanding refresh token of ``user``; returns how many were added."""
    added = 0
    for token in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
        _, created = BlacklistedToken.objects.get_or_create(token=token)
        added += int(created)
    return added


@transaction.atomic
def user_tokens_revoke(*, user: Any) -> int:
    """Refuse every JWT of ``user`` issued so far, access tokens included, from the next
    request on: raise ``token_version`` by one (``F()``, so concurrent revocations both count)
    and blacklist every outstanding refresh token. ``user.token_version`` is refreshed.

    Returns how many refresh tokens were blacklisted. Records no audit event: the caller
    records why (``auth.sign_out_everywhere``, ``auth.refresh_reuse``).
    """
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    return user_refresh_tokens_revoke(user=user)


class RotatingRefreshSerializer(serializers.Serializer):
    """``{refresh} -> {access, refresh}``: rotate once; a second use revokes the family.

    Raises (401, problem+json): ``token_not_valid`` (bad, expired, unknown, reused, inactive
    user, password changed) or ``token_revoked`` (older than the user's last revocation: a
    device signed out everywhere is refused without counting as reuse).
    """

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
        if not isinstance(jti, str) or not jti or "\x00" in jti:  # PostgreSQL text has no NUL
            raise InvalidToken("Token is invalid or expired.")
        refusal: AuthenticationFailed | None = None
        with transaction.atomic():
            # The user's row first, then the token's: every refresh, reuse and revocation of
            # one user queues on the user row (user_tokens_revoke updates it first too), so a
            # reuse blacklisting the other sessions' tokens never deadlocks with their own
            # refreshes. Concurrent refreshes of one token: the first wins, the rest find it
            # blacklisted and count as reuse (at most one new pair).
            try:
                user = User.objects.select_for_update().filter(
                    pk=payload.get(api_settings.USER_ID_CLAIM)).first()
            except (ValueError, TypeError, DjangoValidationError):
                user = None
            outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
            if user is None or outstanding is None or outstanding.user_id != user.pk:
                raise InvalidToken("Token is invalid or expired.")
            if not token_is_current(payload, user):
                # revoked with its whole generation (and blacklisted then): not a theft signal
                refusal = token_revoked_refuse(user=user, token_type="refresh")
            elif BlacklistedToken.objects.filter(token=outstanding).exists():
                revoked = user_tokens_revoke(user=user)
                audit.record("auth.refresh_reuse", actor=user, outcome="denied",
                             object_type="user", object_id=user.pk, details={"revoked": revoked})
                refusal = InvalidToken("Refresh token reuse detected; every session was revoked.")
            else:
                self._check_user(user, payload)
                BlacklistedToken.objects.create(token=outstanding)
                new = PlatformRefreshToken.for_user(user)
                audit.record("auth.refresh", actor=user, object_type="user", object_id=user.pk)
        if refusal is not None:  # raised after the commit: the audit row and revocation stay
            raise refusal
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
