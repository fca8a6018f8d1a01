"""Refusals of the fraud services (rendered as problem+json with their ``code``)."""

from __future__ import annotations

from creditplatform.errors import ApplicationError, NotFoundError, ValidationError

__all__ = ["AlertClosed", "FraudPermissionDenied", "InvalidRuleSet", "NotFoundError",
           "OwnAccountRefused", "RuleSetStateError", "SelfApprovalRefused", "ValidationError"]


class FraudPermissionDenied(ApplicationError):
    """The actor lacks the permission the operation needs (e.g. ``fraud.decide_alert``)."""

    status = 403
    code = "permission_denied"
    title = "Permission denied"


class OwnAccountRefused(ApplicationError):
    """Nobody decides an alert on their own account (segregation of duties)."""

    status = 403
    code = "own_account"
    title = "You cannot decide an alert on your own account"


class SelfApprovalRefused(ApplicationError):
    """Maker-checker: the maker of a rule set cannot approve or reject it."""

    status = 403
    code = "self_approval"
    title = "A second person must approve this change"


class AlertClosed(ApplicationError):
    """The alert is already decided (confirmed fraud or false positive)."""

    status = 409
    code = "alert_closed"
    title = "The alert is closed"


class RuleSetStateError(ApplicationError):
    """The rule set is not in the state the operation needs (only drafts change, ...)."""

    status = 409
    code = "ruleset_state"
    title = "The rule set cannot do that in its current state"


class InvalidRuleSet(ValidationError):
    """Rule values out of range; ``extra["problems"]`` lists them."""

    code = "invalid_ruleset"
    title = "Invalid rule set"
