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
    "PaymentExceedsBalance", "HoldExpired", "AlreadyCaptured", "HoldNotOpen",
    "CaptureExceedsHold", "RefundExceedsCharge", "NotRefundable", "AlreadyReversed",
    "ReversalNotAllowed", "CardRequired", "IdempotencyKeyMissing", "IdempotencyKeyInvalid",
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


class HoldExpired(ApplicationError):
    """The authorization passed its ``expires_at``; its amount is (or will be) released."""

    status = 409
    code = "hold_expired"
    title = "Authorization expired"


class AlreadyCaptured(ApplicationError):
    """The authorization was captured already (with another amount), or cannot be voided."""

    status = 409
    code = "already_captured"
    title = "Authorization already captured"


class HoldNotOpen(ApplicationError):
    """The authorization was voided."""

    status = 409
    code = "hold_voided"
    title = "Authorization voided"


class CaptureExceedsHold(ApplicationError):
    """A capture larger than the authorized amount."""

    status = 422
    code = "capture_exceeds_authorization"
    title = "Capture exceeds authorization"


class RefundExceedsCharge(ApplicationError):
    """The refund is larger than what is left of the charge after earlier refunds."""

    status = 422
    code = "refund_exceeds_charge"
    title = "Refund exceeds charge"


class NotRefundable(ApplicationError):
    """Only charges and captures that are not reversed can be refunded."""

    status = 422
    code = "not_refundable"
    title = "Not refundable"


class AlreadyReversed(ApplicationError):
    """An entry is reversed at most once."""

    status = 409
    code = "already_reversed"
    title = "Already reversed"


class ReversalNotAllowed(ApplicationError):
    """Reversals and refunds cannot be reversed; or the reversal would exceed the credit limit."""

    status = 422
    code = "reversal_not_allowed"
    title = "Reversal not allowed"


class CardRequired(ValidationError):
    """Partners must name the card token the transaction is for."""

    code = "card_required"
    title = "Card required"
