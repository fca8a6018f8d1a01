"""Personal-data encryption under per-customer keys: the card vault, identity data, erasure.

Each customer has one AES-256 data key (:class:`accounts.models.CustomerDataKey`), stored
wrapped by the key ring (``creditplatform.crypto``; the ring's keys are wrapped by the
key-encryption key from the environment). Values are AES-256-GCM under that key with
associated data binding them to table, column and row. Erasing a customer destroys the key
(crypto-shredding, as in NIST SP 800-88r1 "cryptographic erase"): rows, backups and replicas
keep only ciphertext nobody can read, while the ledger and the audit trail stay intact.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.exceptions import NotFoundError, ValidationError
from accounts.models import Card, CustomerDataKey, CustomerProfile, User
from compliance import audit
from creditplatform import crypto
from creditplatform.errors import ApplicationError

KEY_TABLE = CustomerDataKey._meta.db_table
PROFILE_TABLE = CustomerProfile._meta.db_table
CARD_TABLE = Card._meta.db_table


class CustomerErased(ApplicationError):
    """The customer's data key was destroyed; their personal data cannot be read."""

    status = 410
    code = "customer_erased"
    title = "Customer data erased"


def _key_aad(user_id: object) -> bytes:
    return crypto.aad_for(KEY_TABLE, "wrapped_key", user_id)


def customer_key(user: User | Any, *, create: bool = True) -> crypto.DataKey:
    """The unwrapped data key of ``user`` (created on first use).

    Raises:
        CustomerErased: the key was destroyed.
    """
    row = CustomerDataKey.objects.filter(user_id=user.pk).first()
    if row is None:
        if not create:
            raise CustomerErased("This customer has no data key.")
        secret = secrets.token_bytes(32)
        row, created = CustomerDataKey.objects.get_or_create(
            user_id=user.pk,
            defaults={"wrapped_key": crypto.encrypt(secret, aad=_key_aad(user.pk)),
                      "ring_key_id": crypto.keyring().active},
        )
        if created:
            return crypto.DataKey(key_id=row.pk, secret=secret)
    if row.wrapped_key is None:
        raise CustomerErased("This customer's personal data was erased.")
    return crypto.DataKey(key_id=row.pk,
                          secret=crypto.decrypt(bytes(row.wrapped_key), aad=_key_aad(user.pk)))


def seal(user: Any, value: str, *, table: str, column: str, row_id: object) -> bytes:
    """Encrypt ``value`` for ``user``'s row ``row_id`` of ``table.column``."""
    return crypto.encrypt(value.encode(), aad=crypto.aad_for(table, column, row_id),
                          key=customer_key(user))


def unseal(user: Any, blob: bytes, *, table: str, column: str, row_id: object) -> str:
    """Decrypt a value made by :func:`seal` (or a ring-encrypted legacy value).

    Raises:
        CustomerErased, crypto.DecryptionError.
    """
    version, _ = crypto.header_of(blob)
    key = customer_key(user, create=False) if version == crypto.CUSTOMER_KEY_VERSION else None
    return crypto.decrypt(blob, aad=crypto.aad_for(table, column, row_id), key=key).decode()


def card_pan(card: Card) -> str:
    """The full PAN of a card. Internal: callers hold the reveal permission or are the vault."""
    return unseal(card.account.owner, bytes(card.pan_encrypted), table=CARD_TABLE,
                  column="pan", row_id=card.pk)


def card_pan_reveal(*, actor: Any, card_id: object) -> str:
    """Reveal a full PAN: only with ``accounts.reveal_card_pan`` (no default role holds it),
    and every reveal, allowed or refused, is a security event.

    Raises:
        NotFoundError: no such card, or the actor may not reveal (the same answer).
    """
    card = Card.objects.select_related("account__owner").filter(pk=card_id).first()
    allowed = card is not None and getattr(actor, "has_perm", lambda p: False)(
        "accounts.reveal_card_pan")
    if not allowed:
        with transaction.atomic():  # committed: the refusal itself is the security event
            audit.record("card.pan_reveal", actor=actor, outcome="denied", object_type="card",
                         object_id=card_id)
        raise NotFoundError("No such card.")
    with transaction.atomic():
        audit.record("card.pan_reveal", actor=actor, object_type="card", object_id=card.pk,
                     details={"bin": card.bin, "last4": card.last4})
        return card_pan(card)


@transaction.atomic
def customer_profile_set(
    *, actor: Any, user: User, national_id: str | None = None,
    date_of_birth: dt.date | None = None, credit_score: int | None = None,
) -> CustomerProfile:
    """Store identity data encrypted under the customer's key; audited with masked values.

    Raises:
        ValidationError: a national id outside 4-32 characters, or a score outside 300-850
            (FICO range).
        accounts.credit.policy.InvalidDateOfBirth: a date of birth no living person has
            (400 ``invalid_date_of_birth``: future, before 1900-01-01, over 130 years).
    """
    profile, _ = CustomerProfile.objects.select_for_update().get_or_create(user=user)
    changed: list[str] = []
    if national_id is not None:
        nid = national_id.strip().upper()
        if not 4 <= len(nid) <= 32 or not nid.isascii() or not nid.isalnum():
            raise ValidationError("national_id must be 4-32 letters or digits.")
        profile.national_id_encrypted = seal(user, nid, table=PROFILE_TABLE,
                                             column="national_id", row_id=user.pk)
        profile.national_id_index = crypto.blind_index(nid, purpose="national_id")
        profile.national_id_last4 = nid[-4:]
        changed.append("national_id")
    if date_of_birth is not None:
        from accounts.credit.policy import date_of_birth_check  # the one rule (credit too)

        date_of_birth_check(date_of_birth, today=timezone.now().date())
        profile.date_of_birth_encrypted = seal(user, date_of_birth.isoformat(),
                                               table=PROFILE_TABLE, column="date_of_birth",
                                               row_id=user.pk)
        changed.append("date_of_birth")
    if credit_score is not None:
        if not 300 <= credit_score <= 850:
            raise ValidationError("credit_score must be 300-850.")
        profile.credit_score_encrypted = seal(user, str(credit_score), table=PROFILE_TABLE,
                                              column="credit_score", row_id=user.pk)
        changed.append("credit_score")
    profile.save()
    audit.record("profile.updated", actor=actor, object_type="user", object_id=user.pk,
                 details={"fields": changed, "id_last4": f"****{profile.national_id_last4}"
                          if "national_id" in changed else None})
    return profile


def customer_profile_read(*, user: User) -> dict[str, Any]:
    """Decrypted identity data of ``user`` (for the customer's own view and decisions).

    Raises:
        CustomerErased.
    """
    profile = CustomerProfile.objects.filter(user=user).first()
    if profile is None:
        return {"national_id": None, "date_of_birth": None, "credit_score": None}

    def read(column: str) -> str | None:
        blob = getattr(profile, f"{column}_encrypted")
        return None if blob is None else unseal(user, bytes(blob), table=PROFILE_TABLE,
                                                column=column, row_id=user.pk)

    dob = read("date_of_birth")
    score = read("credit_score")
    return {"national_id": read("national_id"),
            "date_of_birth": dt.date.fromisoformat(dob) if dob else None,
            "credit_score": int(score) if score else None}


@transaction.atomic
def customer_erase(*, actor: Any, user: User) -> None:
    """Erase a customer (GDPR art. 17) by destroying their data key (crypto-shredding).

    The user can no longer log in, cards are closed, every refresh token is revoked; ledger
    rows and audit events stay (they hold no personal data in clear) and still verify.
    """
    from accounts.tokens import user_refresh_tokens_revoke

    row = CustomerDataKey.objects.select_for_update().filter(user=user).first()
    if row is not None and row.wrapped_key is not None:
        row.wrapped_key = None
        row.destroyed_at = timezone.now()
        row.save(update_fields=["wrapped_key", "destroyed_at"])
    for card in Card.objects.filter(account__owner=user).exclude(status=Card.Status.CLOSED):
        card.status = Card.Status.CLOSED
        card.save(update_fields=["status"])
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["is_active", "password"])
    user_refresh_tokens_revoke(user=user)
    audit.record("customer.erased", actor=actor, object_type="user", object_id=user.pk)


__all__ = ["CustomerErased", "customer_key", "seal", "unseal", "card_pan", "card_pan_reveal",
           "customer_profile_set", "customer_profile_read", "customer_erase", "NotFoundError"]
