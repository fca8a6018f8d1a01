"""API key authentication for partner apps (``Authorization: ApiKey cpk_<prefix>_<secret>``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from accounts.models import ApiClient, ApiKey
from accounts.tokens import token_is_current, token_revoked_refuse

KEYWORD = "ApiKey"


def hash_secret(secret: str) -> str:
    """SHA-256 hex of an API key secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key_material() -> tuple[str, str, str]:
    """``(prefix, secret, full_key)`` for a new key; only the hash of ``secret`` is stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return prefix, secret, f"cpk_{prefix}_{secret}"


def parse_key(raw: str) -> tuple[str, str] | None:
    """Split ``cpk_<prefix>_<secret>``; None when malformed."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "cpk" or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates a partner :class:`ApiClient` by one of its live keys.

    Raises AuthenticationFailed (401) for a malformed, unknown, revoked or expired key or an
    inactive client; answers None (not this scheme) without the ``ApiKey`` keyword.
    """

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{KEYWORD} "):
            return None
        parsed = parse_key(header[len(KEYWORD) + 1:].strip())
        if parsed is None:
            raise exceptions.AuthenticationFailed("Malformed API key.", code="invalid_api_key")
        prefix, secret = parsed
        key = ApiKey.objects.select_related("client").filter(prefix=prefix).first()
        digest = hash_secret(secret)
        if key is None or not hmac.compare_digest(key.secret_hash, digest):
            raise exceptions.AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        now = timezone.now()
        if key.revoked_at is not None or (key.expires_at and key.expires_at <= now):
            raise exceptions.AuthenticationFailed("API key revoked or expired.",
                                                  code="invalid_api_key")
        if not key.client.is_active:
            raise exceptions.AuthenticationFailed("API client disabled.", code="invalid_api_key")
        return key.client, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`ApiKey cpk_<prefix>_<secret>` (partner apps)."}


class PlatformJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication (signature, ``aud``/``iss``, expiry, active user, password
    unchanged), plus the user's token generation: a token older than the user's last
    revocation answers 401 ``token_revoked`` (security event ``auth.token_revoked``), checked
    on the user row simplejwt loads anyway, so it costs no query (``accounts.tokens``).
    A validly signed token whose ``sub`` is not a user id answers 401 instead of a 500.
    """

    def get_user(self, validated_token: Any) -> Any:
        try:
            user = super().get_user(validated_token)
        except (DjangoValidationError, ValueError, TypeError):
            raise InvalidToken("Token contained no recognizable user identification") from None
        if not token_is_current(validated_token.payload, user):
            raise token_revoked_refuse(user=user, token_type="access")
        return user


class PlatformJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.PlatformJWTAuthentication"


def axes_username(request: Any, credentials: dict[str, Any] | None) -> str:
    """The username django-axes records and locks on, with anything PAN-like redacted (people
    type card numbers into login forms; axes stores what it is given)."""
    from creditplatform.logging import redact_text

    name = (credentials or {}).get("username") or getattr(request, "data", {}).get("username", "")
    return redact_text(str(name))[:150]
