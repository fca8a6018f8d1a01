"""Refusals raised by the ledger (stable codes; RFC 9457 problem+json)."""

from creditplatform.errors import (
    ApplicationError,
    NotFoundError,
    ServiceUnavailableError,
    ValidationError,
)

__all__ = [
    "ApplicationError", "NotFoundError", "ServiceUnavailableError", "ValidationError",
    "InsufficientCredit", "CurrencyMismatch", "CardDeclined", "AccountNotActive",
    "PaymentExceedsBalance", "IdempotencyKeyMissing", "IdempotencyKeyInvalid",
    "IdempotencyKeyMismatch", "IdempotencyKeyInUse", "InvalidAmount",
]


class InvalidAmount(ValidationError):
    """Not a positive integer of minor units within ``LEDGER_MAX_AMOUNT``."""

    code = "invalid_amount"
    title = "Invalid amount"


class InsufficientCredit(ApplicationError):
    """The amount exceeds the account's available credit."""

    status = 402
    code = "insufficient_credit"
    title = "Insufficient available credit"


class CurrencyMismatch(ApplicationError):
    """The request's currency is not the account's."""

    status = 422
    code = "currency_mismatch"
    title = "Currency mismatch"


class CardDeclined(ApplicationError):
    """Pre-authorization rules declined the charge; ``extra['reasons']`` lists reason codes."""

    status = 402
    code = "card_declined"
    title = "Card declined"


class AccountNotActive(ApplicationError):
    """The credit account is frozen or closed."""

    status = 422
    code = "account_not_active"
    title = "Account not active"


class PaymentExceedsBalance(ApplicationError):
    """A payment larger than what is owed (``posted``)."""

    status = 422
    code = "payment_exceeds_balance"
    title = "Payment exceeds balance"


class IdempotencyKeyMissing(ApplicationError):
    """A POST that changes financial state came without ``Idempotency-Key``."""

    status = 400
    code = "idempotency_key_missing"
    title = "Idempotency-Key required"


class IdempotencyKeyInvalid(ApplicationError):
    """The key is not 1-255 printable ASCII characters."""

    status = 400
    code = "idempotency_key_invalid"
    title = "Invalid Idempotency-Key"


class IdempotencyKeyMismatch(ApplicationError):
    """The key was used before with another request (method, route or body)."""

    status = 422
    code = "idempotency_key_mismatch"
    title = "Idempotency-Key reused with another request"


class IdempotencyKeyInUse(ApplicationError):
    """A request with this key is still being processed; retry after it completes."""

    status = 409
    code = "idempotency_key_in_use"
    title = "Request with this Idempotency-Key in progress"
