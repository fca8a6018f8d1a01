"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body`` (Stripe's scheme).

Header::

    Creditplatform-Signature: t=1767225600,v1=<hex>[,v1=<hex of the previous secret>]

``t`` is Unix seconds; each ``v1`` is ``HMAC-SHA256(secret, f"{t}.".encode() + body)`` in hex.
During a secret rotation's overlap window the previous secret signs too, so a receiver that
still has the old secret keeps verifying. Receivers reject a ``t`` older than a tolerance
(5 minutes in the documented recipe, ``docs/webhooks.md``) against replays.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Creditplatform-Signature"
EVENT_ID_HEADER = "Creditplatform-Event-Id"
EVENT_TYPE_HEADER = "Creditplatform-Event-Type"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` + 32 random bytes, url-safe base64 (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}." + body`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """The header value: ``t=<timestamp>`` then one ``v1=`` per secret, current first."""
    return ",".join([f"t={timestamp}"] + [f"v1={sign(s, timestamp, body)}" for s in secrets_])
