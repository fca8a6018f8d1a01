"""Writes for identity, credit accounts and the card vault. Every write is a service here."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import vault
from accounts.exceptions import DuplicateCard, InvalidCard, ValidationError
from accounts.models import Card, CreditAccount, User
from accounts.selectors import account_get_for
from compliance import audit
from creditplatform import crypto
from creditplatform.luhn import luhn_valid
from creditplatform.money import is_currency

CARD_TABLE = Card._meta.db_table


def normalize_pan(pan: str) -> str:
    """Strip spaces and dashes and validate a PAN: 13-19 digits (ISO/IEC 7812), Luhn-valid.

    Raises:
        InvalidCard: anything else (the message never echoes the PAN).
    """
    digits = re.sub(r"[ -]", "", pan or "")
    if not re.fullmatch(r"[0-9]{13,19}", digits):  # ASCII digits only (not "¹" or "٣")
        raise InvalidCard("A card number has 13 to 19 digits.")
    if not luhn_valid(digits):
        raise InvalidCard("The card number fails its check digit.")
    return digits


def pan_blind_index(pan: str) -> str:
    """HMAC-SHA256 blind index of a normalized PAN (see ``creditplatform.crypto``)."""
    return crypto.blind_index(pan, purpose="pan")


def card_pan_reveal_unaudited(card: Card) -> str:
    """Decrypt a card's PAN. Internal to the vault: callers must hold the reveal permission."""
    return vault.card_pan(card)


def _validate_currency(currency: str) -> str:
    if not is_currency(currency):
        raise ValidationError("currency must be an ISO 4217 alphabetic code, e.g. EUR.",
                              code="invalid_currency")
    return currency


@transaction.atomic
def credit_account_create(
    *, actor: Any, owner: User, credit_limit: int, currency: str
) -> CreditAccount:
    """Open a credit account for ``owner`` with ``credit_limit`` minor units of ``currency``.

    Raises:
        ValidationError: negative limit or a currency that is not 3 capital letters.
    """
    if not isinstance(credit_limit, int) or isinstance(credit_limit, bool) or credit_limit < 0:
        raise ValidationError("credit_limit must be a non-negative integer of minor units.")
    account = CreditAccount.objects.create(
        owner=owner, credit_limit=credit_limit, currency=_validate_currency(currency)
    )
    audit.record("account.opened", actor=actor, object_type="credit_account",
                 object_id=account.pk,
                 details={"credit_limit": credit_limit, "currency": currency})
    return account


class EmailTaken(ValidationError):
    """Another user has this e-mail address (compared case-insensitively, as the database's
    unique index ``user_email_ci_unique`` does): 400 ``email_taken``, like ``username_taken``.
    The message never echoes the address."""

    code = "email_taken"
    title = "E-mail address taken"


def email_clean(email: str, *, owner_id: Any = None) -> str:
    """Strip ``email`` and refuse a malformed address or one another user has ("" stays
    allowed: no address). ``owner_id``: the user whose own address it may already be.

    Raises:
        ValidationError (``invalid_email``), EmailTaken.
    """
    email = (email or "").strip()
    if not email:
        return ""
    try:
        if len(email) > 254:  # the column's length (RFC 5321 4.5.3.1.3 path limit 256 - "<>")
            raise DjangoValidationError("too long")
        validate_email(email)
    except DjangoValidationError:
        raise ValidationError("Enter a valid e-mail address.", code="invalid_email") from None
    if User.objects.filter(email__iexact=email).exclude(pk=owner_id).exists():
        raise EmailTaken("Another account uses that e-mail address.")
    return email


@transaction.atomic
def customer_create(
    *, actor: Any, username: str, password: str | None, credit_limit: int, currency: str,
    email: str = "",
) -> tuple[User, CreditAccount]:
    """Create a cardholder (group ``customer``) with one credit account.

    ``password=None`` creates a user who cannot log in (e.g. replayed historical customers).
    ``email`` is optional; a given one must be valid and not another user's (any case).

    Raises:
        ValidationError: the username is taken (``username_taken``), a malformed e-mail
            (``invalid_email``), or as :func:`credit_account_create`.
        EmailTaken: another user has that e-mail address (also when a concurrent creation
            took it between the check and the insert).
    """
    if User.objects.filter(username=username).exists():
        raise ValidationError("That username is taken.", code="username_taken")
    email = email_clean(email)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
    except IntegrityError:  # a concurrent creation won the race for the username or e-mail
        if User.objects.filter(username=username).exists():
            raise ValidationError("That username is taken.", code="username_taken") from None
        raise EmailTaken("Another account uses that e-mail address.") from None
    group, _ = Group.objects.get_or_create(name="customer")
    user.groups.add(group)
    audit.record("user.created", actor=actor, object_type="user", object_id=user.pk,
                 details={"username": username, "role": "customer"})
    account = credit_account_create(actor=actor, owner=user, credit_limit=credit_limit,
                                    currency=currency)
    return user, account


@transaction.atomic
def card_create(
    *, actor: Any, account_id: object, pan: str, exp_month: int, exp_year: int,
    today: dt.date | None = None,
) -> Card:
    """Put a PAN into the vault for one of ``actor``'s accounts; returns the card (its token).

    The PAN is validated (13-19 digits, Luhn), encrypted with AES-256-GCM bound to the new row,
    indexed by HMAC-SHA256, and kept for display as bin (first 6) + last4 only.

    Raises:
        InvalidCard: bad PAN, month outside 1-12, or expired.
        DuplicateCard: the PAN is already in the vault.
        NotFoundError: the account is not ``actor``'s.
    """
    digits = normalize_pan(pan)
    today = today or timezone.now().date()
    if not (isinstance(exp_month, int) and 1 <= exp_month <= 12):
        raise InvalidCard("exp_month must be 1-12.")
    if not (isinstance(exp_year, int) and 2000 <= exp_year <= 2100):
        raise InvalidCard("exp_year must be a four-digit year.")
    if (exp_year, exp_month) < (today.year, today.month):
        raise InvalidCard("The card has expired.")
    account = account_get_for(actor=actor, account_id=account_id)
    index = pan_blind_index(digits)
    if Card.objects.filter(pan_index=index).exists():
        raise DuplicateCard("This card is already registered.")
    card_id = uuid.uuid4()
    try:
        with transaction.atomic():
            card = Card.objects.create(
                id=card_id,
                account=account,
                pan_encrypted=vault.seal(account.owner, digits, table=CARD_TABLE,
                                         column="pan", row_id=card_id),
                pan_index=index,
                bin=digits[:6],
                last4=digits[-4:],
                exp_month=exp_month,
                exp_year=exp_year,
            )
    except IntegrityError:
        raise DuplicateCard("This card is already registered.") from None
    audit.record("card.created", actor=actor, object_type="card", object_id=card.pk,
                 details={"bin": card.bin, "last4": card.last4, "account": str(account.pk)})
    return card


def _card_status_set(*, actor: Any, card: Card, status: str, reason: str, event: str) -> Card:
    # Only the columns the change needs: the fraud worker's database role may not read the PAN.
    locked = (Card.objects.select_for_update()
              .only("id", "status", "last4", "account_id").get(pk=card.pk))
    if locked.status == Card.Status.CLOSED:
        raise ValidationError("A closed card cannot change status.", code="card_closed", status=409)
    previous = locked.status
    if previous != status:
        Card.objects.filter(pk=locked.pk).update(status=status)
        locked.status = status
    audit.record(event, actor=actor, object_type="card", object_id=locked.pk,
                 details={"last4": locked.last4, "from": previous, "to": status,
                          "reason": reason[:200], "changed": previous != status})
    return locked


@transaction.atomic
def card_freeze(*, actor: Any, card: Card, reason: str) -> Card:
    """Freeze ``card`` (new authorizations and charges on it are declined by pre-authorization).

    ``card`` must already have passed the caller's access check (``card_get_for`` for a
    cardholder; the alert's own card for the fraud worker and support agents). Idempotent: freezing
    a frozen card changes nothing but still records the security event ``card.frozen``.

    Raises:
        ValidationError (``card_closed``): the card is closed.
    """
    return _card_status_set(actor=actor, card=card, status=Card.Status.FROZEN, reason=reason,
                            event="card.frozen")


@transaction.atomic
def card_unfreeze(*, actor: Any, card: Card, reason: str) -> Card:
    """Return a frozen ``card`` to active; records ``card.unfrozen``. Same access rule and errors
    as :func:`card_freeze`."""
    return _card_status_set(actor=actor, card=card, status=Card.Status.ACTIVE, reason=reason,
                            event="card.unfrozen")
