"""Identity and credit lines: users, credit accounts and the card vault.

Money fields are integers of minor units of the account's ISO 4217 ``currency``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django_otp.models import Device, ThrottlingMixin, TimestampMixin


class User(AbstractUser):
    """A person: cardholder or staff. Public id is a UUID (never a guessable integer).

    An e-mail address belongs to at most one user, compared case-insensitively (``Lower``);
    an empty e-mail is not an address and may repeat. Services refuse a taken address with
    400 ``email_taken`` (``accounts.services.EmailTaken``); model validation (the admin's
    forms) reports the same code.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    token_version = models.PositiveIntegerField(
        default=0, editable=False,
        help_text="Generation of the user's JWTs (claim token_version): raising it refuses "
                  "every token issued before (accounts.tokens.user_tokens_revoke). Never "
                  "lowered (PostgreSQL trigger, migration 0008).")

    class Meta(AbstractUser.Meta):
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique",
                violation_error_code="email_taken",
                violation_error_message="A user with this e-mail address already exists."),
        ]

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """Model permissions (``app_label.codename``) are staff privileges: a user without
        ``is_staff`` holds none, whatever their groups. Staff sign in with their second factor
        (the admin and ``POST /api/v1/auth/token/`` require it), and a change of ``is_staff``
        raises ``token_version`` (tokens issued before are refused); so a role given to a
        non-staff user by mistake cannot be used with a password-only token (refunds,
        reversals, alert decisions, PAN reveal). Otherwise Django's rules (active superusers
        hold every permission)."""
        if not self.is_staff:
            return False
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        """As :meth:`has_perm`: none without ``is_staff``."""
        return self.is_staff and super().has_module_perms(app_label)

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        """``("user", id, username)`` for audit records."""
        return ("user", str(self.id), self.username)

    @property
    def idempotency_scope(self) -> str:
        """Scope of this principal's Idempotency-Key values."""
        return f"user:{self.id}"


class CreditAccount(models.Model):
    """A revolving credit line.

    ``posted`` is what the cardholder owes (may be negative: a credit balance), ``pending`` the
    sum of open holds, and ``available = credit_limit - posted - pending``; a CHECK constraint
    keeps ``available >= 0`` as the last line of defence behind the services' row lock.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        FROZEN = "frozen"
        CLOSED = "closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="credit_accounts")
    currency = models.CharField(max_length=3)
    credit_limit = models.BigIntegerField()
    posted = models.BigIntegerField(default=0)
    pending = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credit_limit__gte=0), name="account_limit_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(pending__gte=0), name="account_pending_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    credit_limit__gte=models.F("posted") + models.F("pending")
                ),
                name="account_available_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.currency})"

    @property
    def available(self) -> int:
        """Available credit in minor units: ``credit_limit - posted - pending``."""
        return self.credit_limit - self.posted - self.pending


class Card(models.Model):
    """A card in the vault. The ``id`` is the card token everything else references.

    The PAN is stored only as AES-256-GCM ciphertext bound to this row
    (``creditplatform.crypto``), found by an HMAC-SHA256 blind index, and shown as
    ``bin`` + ``last4`` only.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        FROZEN = "frozen"
        CLOSED = "closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="cards")
    pan_encrypted = models.BinaryField(editable=False)
    pan_index = models.CharField(max_length=64, unique=True, editable=False)
    bin = models.CharField(max_length=6, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    issued_for = models.ForeignKey(
        "ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="cards",
        help_text="The partner allowed to submit transactions on this card token.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("reveal_card_pan", "Can reveal a full card number (audited)")]

    def __str__(self) -> str:
        return self.masked_pan

    @property
    def masked_pan(self) -> str:
        """``"411111******1111"``-style display: bin, then asterisks, then last4."""
        return f"{self.bin}******{self.last4}"


class ApiClient(models.Model):
    """A partner application (merchant, processor) calling the API with scoped keys.

    ``scopes`` is a list such as ``["charges:write", "refunds:write", "cards:read"]``;
    ``throttle_rate`` a DRF rate such as ``"600/min"``. A partner acts only on cards whose
    ``issued_for`` is this client.
    """

    SCOPES = ["charges:write", "authorizations:write", "refunds:write", "cards:read",
              "cards:write", "webhooks:manage"]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    scopes = models.JSONField(default=list, blank=True)
    throttle_rate = models.CharField(max_length=20, default="600/min")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # A principal for DRF, the access policy, audit and idempotency.
    is_authenticated = True
    is_anonymous = False
    is_staff = False

    @property
    def audit_principal(self) -> tuple[str, str, str]:
        return ("api_client", str(self.id), self.name)

    @property
    def idempotency_scope(self) -> str:
        return f"client:{self.id}"

    def has_scope(self, scope: str) -> bool:
        """True when this active client was granted ``scope``."""
        return self.is_active and scope in (self.scopes or [])

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """Partners hold no model permissions; what they may do is their scopes."""
        return False


class ApiKey(models.Model):
    """A secret key of an :class:`ApiClient`, stored as SHA-256 of the secret (shown once).

    Wire format: ``cpk_<prefix>_<secret>``; ``prefix`` (public, 12 hex) finds the row, the
    secret (32 random bytes, base64url) is compared by hash in constant time. High-entropy
    random secrets need no slow hash (NIST SP 800-63B 5.1.1.2 applies to memorized secrets).
    """

    id = models.BigAutoField(primary_key=True)
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"cpk_{self.prefix}_… ({self.client_id})"


class CustomerDataKey(models.Model):
    """A customer's own AES-256 data key, stored wrapped by the key ring (never in clear).

    Everything personal of the customer (PAN, national id, date of birth, credit score) is
    encrypted under it. Erasure sets ``wrapped_key`` to NULL (crypto-shredding): the data
    stays in rows and backups but can no longer be read by anyone.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="data_key")
    wrapped_key = models.BinaryField(null=True, editable=False)
    ring_key_id = models.PositiveIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key {self.id} of {self.user_id}"


class CustomerProfile(models.Model):
    """Identity data of a cardholder, each value AES-256-GCM under the customer's data key and
    bound to this row and column. ``national_id_index`` is an HMAC-SHA256 blind index."""

    user = models.OneToOneField(User, primary_key=True, on_delete=models.PROTECT,
                                related_name="profile")
    national_id_encrypted = models.BinaryField(null=True, editable=False)
    national_id_index = models.CharField(max_length=64, blank=True, db_index=True,
                                         editable=False)
    national_id_last4 = models.CharField(max_length=4, blank=True)
    date_of_birth_encrypted = models.BinaryField(null=True, editable=False)
    credit_score_encrypted = models.BinaryField(null=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class SealedTOTPDevice(TimestampMixin, ThrottlingMixin, Device):
    """A TOTP second factor (RFC 6238) whose shared secret is stored sealed.

    django-otp's own ``TOTPDevice`` keeps the secret as clear hex; this device keeps it
    AES-256-GCM under the key ring, bound to this device's ``uid``, and otherwise verifies
    exactly as ``TOTPDevice`` does (``django_otp.oath.TOTP``: step, t0, digits, tolerance,
    drift, no token accepted twice, throttling after failures).
    """

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key_sealed = models.BinaryField(editable=False)
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    class Meta(Device.Meta):
        verbose_name = "TOTP device"

    def _aad(self) -> bytes:
        from creditplatform import crypto

        return crypto.aad_for(self._meta.db_table, "key", self.uid)

    def set_secret(self, secret: bytes) -> None:
        """Seal a 20-40 byte shared secret (shown to the user once, as a QR code or text)."""
        from creditplatform import crypto

        self.key_sealed = crypto.encrypt(secret, aad=self._aad())

    @property
    def bin_key(self) -> bytes:
        """The shared secret (decrypted in memory only)."""
        from creditplatform import crypto

        return crypto.decrypt(bytes(self.key_sealed), aad=self._aad())

    def verify_token(self, token: Any) -> bool:
        """RFC 6238 check with django-otp's TOTP, as ``TOTPDevice.verify_token`` does it."""
        import time

        from django.conf import settings as dj_settings
        from django_otp.oath import TOTP

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            value = int(token)
        except (TypeError, ValueError):
            verified = False
        else:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time()
            verified = totp.verify(value, self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                if getattr(dj_settings, "OTP_TOTP_SYNC", True):
                    self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
        if not verified:
            self.throttle_increment(commit=True)
        return verified

    def get_throttle_factor(self) -> int:
        return 1


from accounts.credit.models import *  # noqa: E402,F401,F403
