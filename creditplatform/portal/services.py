"""Writes of the portal: sessions, sign-out everywhere, contact details, the TOTP factor.

Card status, disputes and answers to "was this you?" are the platform's own services
(``accounts.services.card_freeze``, ``fraud.services``); nothing here duplicates a rule of theirs.
"""

from __future__ import annotations

import base64
import secrets
from importlib import import_module
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import SealedTOTPDevice, User
from accounts.services import EmailTaken, email_clean
from accounts.tokens import user_tokens_revoke
from compliance import audit
from compliance.audit import mask_last4
from creditplatform.errors import ValidationError
from creditplatform.portal.models import PortalSession

TOTP_SECRET_BYTES = 20  # RFC 4226 section 4 R6: at least 128 bits, 160 recommended
TOTP_DEVICE_NAME = "portal authenticator"


def _session_store() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


@transaction.atomic
def portal_session_register(*, user: User, session_key: str) -> PortalSession:
    """Remember that ``session_key`` is a portal session of ``user`` (called after login);
    forgets the user's sessions that have expired meanwhile."""
    store = _session_store()
    for key in PortalSession.objects.filter(user=user).values_list("session_key", flat=True):
        if not store().exists(key):
            PortalSession.objects.filter(session_key=key).delete()
    row, _ = PortalSession.objects.update_or_create(session_key=session_key,
                                                    defaults={"user": user})
    return row


@transaction.atomic
def portal_session_forget(*, session_key: str) -> None:
    """Drop the record of one session (its own sign-out)."""
    PortalSession.objects.filter(session_key=session_key).delete()


@transaction.atomic
def user_sign_out_everywhere(*, actor: Any, user: User) -> dict[str, int]:
    """End every portal session of ``user`` and revoke every JWT issued to them so far
    (``accounts.tokens.user_tokens_revoke``): refresh tokens are blacklisted and access tokens
    already issued answer 401 ``token_revoked`` from the next request on, not when their 5
    minutes run out. Tokens issued afterwards work. The portal's "sign out everywhere" and
    ``POST /api/v1/auth/logout-all/`` both call this.

    Returns ``{"sessions": n, "api_sign_ins": m}`` (m refresh tokens blacklisted); audited as
    ``auth.sign_out_everywhere``.
    """
    store = _session_store()
    keys = list(PortalSession.objects.select_for_update().filter(user=user)
                .values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    PortalSession.objects.filter(user=user).delete()
    revoked = user_tokens_revoke(user=user)
    result = {"sessions": len(keys), "api_sign_ins": revoked}
    audit.record("auth.sign_out_everywhere", actor=actor, object_type="user", object_id=user.pk,
                 details=result)
    return result


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else mask_last4(email)


@transaction.atomic
def user_contact_update(*, actor: Any, user: User, email: str, first_name: str,
                        last_name: str) -> User:
    """Change the cardholder's name and e-mail; audited as ``profile.contact_updated`` with
    the changed field names and the e-mail masked (``a***@example.com``), never in clear.

    Raises:
        ValidationError: an invalid e-mail address (``invalid_email``) or a name over 150
            characters.
        accounts.services.EmailTaken: another user has that address (any case; also when a
            concurrent change took it between the check and the update).
    """
    email = email_clean(email, owner_id=user.pk)
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    if len(first_name) > 150 or len(last_name) > 150:
        raise ValidationError("Names are at most 150 characters.")
    locked = User.objects.select_for_update().get(pk=user.pk)
    new = {"email": email, "first_name": first_name, "last_name": last_name}
    changed = [f for f, v in new.items() if getattr(locked, f) != v]
    if changed:
        try:
            with transaction.atomic():
                User.objects.filter(pk=locked.pk).update(**new)
        except IntegrityError:  # unique index user_email_ci_unique: a concurrent change won
            raise EmailTaken("Another account uses that e-mail address.") from None
    details: dict[str, Any] = {"fields": changed}
    if "email" in changed:
        details["email"] = {"from": _mask_email(locked.email), "to": _mask_email(email)}
    audit.record("profile.contact_updated", actor=actor, object_type="user", object_id=user.pk,
                 details=details)
    for f, v in new.items():
        setattr(user, f, v)
    return user


def totp_device_for(*, user: User, confirmed: bool | None = True) -> SealedTOTPDevice | None:
    """The user's portal TOTP device (confirmed ones only by default; None for any)."""
    qs = SealedTOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        qs = qs.filter(confirmed=confirmed)
    return qs.order_by("-id").first()


@transaction.atomic
def totp_device_begin(*, actor: Any, user: User) -> SealedTOTPDevice:
    """Start turning on the second factor: a new unconfirmed device with a fresh sealed secret
    (replacing an unconfirmed one). Confirmed by :func:`totp_device_confirm` with a code.

    Raises:
        ValidationError (``totp_already_on``): a confirmed device exists.
    """
    if totp_device_for(user=user, confirmed=True):
        raise ValidationError("Two-step sign-in is already on.", code="totp_already_on",
                              status=409)
    SealedTOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = SealedTOTPDevice(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    device.set_secret(secrets.token_bytes(TOTP_SECRET_BYTES))
    device.save()
    audit.record("auth.totp_setup_started", actor=actor, object_type="user", object_id=user.pk)
    return device


def totp_secret_text(device: SealedTOTPDevice) -> str:
    """The shared secret in base32 without padding (what people type into an app by hand)."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def totp_provisioning_uri(device: SealedTOTPDevice) -> str:
    """The ``otpauth://totp/...`` URI authenticator apps scan (Google Authenticator key URI
    format: issuer, SHA1, digits, period)."""
    secret = totp_secret_text(device)
    issuer = getattr(settings, "OTP_TOTP_ISSUER", "creditplatform")
    label = quote(f"{issuer}:{device.user.get_username()}")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": device.digits, "period": device.step})
    return f"otpauth://totp/{label}?{query}"


def totp_device_confirm(*, actor: Any, user: User, token: str) -> SealedTOTPDevice:
    """Confirm the pending device with a current code; audited ``auth.totp_enabled``.

    Raises:
        ValidationError (``totp_invalid``): no pending device, or a wrong code (django-otp
            throttles repeated failures; the check runs outside a transaction so the failure
            count is kept).
    """
    device = totp_device_for(user=user, confirmed=False)
    if device is None or not device.verify_token(token):
        raise ValidationError("That code is not right; try the current one.",
                              code="totp_invalid")
    with transaction.atomic():  # the check above commits its own throttling state
        SealedTOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        audit.record("auth.totp_enabled", actor=actor, object_type="user", object_id=user.pk)
    return device


def totp_device_remove(*, actor: Any, user: User, token: str) -> None:
    """Turn the second factor off, proven by a current code; audited ``auth.totp_disabled``.

    Raises:
        ValidationError (``totp_invalid``): no device or a wrong code.
    """
    device = totp_device_for(user=user, confirmed=True)
    if device is None or not device.verify_token(token):
        raise ValidationError("That code is not right; try the current one.",
                              code="totp_invalid")
    with transaction.atomic():
        SealedTOTPDevice.objects.filter(user=user).delete()
        audit.record("auth.totp_disabled", actor=actor, object_type="user", object_id=user.pk)
