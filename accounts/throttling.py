"""DRF throttles on the shared cache (Redis): per person, per partner client, per source IP.

Rates are DRF rate strings (``"1200/min"``) from ``REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']``;
a partner's rate is its own ``ApiClient.throttle_rate``. With the cache down, django-redis
ignores the error (``DJANGO_REDIS_IGNORE_EXCEPTIONS``) and the request is let through: the
ledger's safety never depends on Redis.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiClient


class PrincipalRateThrottle(SimpleRateThrottle):
    """One bucket per authenticated principal: ``user:<id>`` or ``client:<id>``."""

    scope = "user"

    def allow_request(self, request: Request, view: Any) -> bool:
        if isinstance(request.user, ApiClient):
            self.rate = request.user.throttle_rate
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        scope = getattr(request.user, "idempotency_scope", None)
        if not scope:
            return None
        return self.cache_format % {"scope": self.scope, "ident": scope}


class SourceIPRateThrottle(SimpleRateThrottle):
    """One bucket per source IP, for every request (authenticated or not)."""

    scope = "ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(SourceIPRateThrottle):
    """Token endpoints: a tighter bucket per source IP (credential stuffing)."""

    scope = "login"
