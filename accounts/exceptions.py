"""Refusals raised by the accounts services."""

from creditplatform.errors import ApplicationError, NotFoundError, ValidationError

__all__ = ["ApplicationError", "NotFoundError", "ValidationError", "InvalidCard", "DuplicateCard",
           "AccountLocked"]


class InvalidCard(ValidationError):
    """The PAN fails Luhn (ISO/IEC 7812-1) or length, or the card is expired."""

    code = "invalid_card"
    title = "Invalid card"


class DuplicateCard(ApplicationError):
    """A card with this PAN is already in the vault (found by its blind index)."""

    status = 409
    code = "duplicate_card"
    title = "Card already registered"


class AccountLocked(ApplicationError):
    """Too many failed logins for this username (PCI DSS v4.0 8.3.4); retry after the lock."""

    status = 429
    code = "account_locked"
    title = "Account locked"
