"""Refusals raised by the webhooks services (problem+json codes)."""

from creditplatform.errors import ApplicationError, NotFoundError, ValidationError

__all__ = ["ApplicationError", "NotFoundError", "ValidationError", "UnsafeWebhookUrl",
           "UnknownEventType", "ScopeRequired"]


class UnsafeWebhookUrl(ValidationError):
    """The URL is not an https URL of a public host: it (or an address its name resolves to)
    is loopback, link-local, private, multicast, reserved or unresolvable (SSRF guard, OWASP
    API7:2023 Server Side Request Forgery)."""

    code = "unsafe_webhook_url"
    title = "Webhook URL refused"


class UnknownEventType(ValidationError):
    """An event type outside :data:`creditplatform.webhooks.events.EVENT_TYPES`."""

    code = "unknown_event_type"
    title = "Unknown event type"


class ScopeRequired(ApplicationError):
    """A partner without the ``webhooks:manage`` scope (enforced in the service too)."""

    status = 403
    code = "permission_denied"
    title = "Permission denied"
