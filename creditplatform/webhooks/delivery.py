"""One HTTP POST of a signed webhook: pinned to the checked address, no redirects, short
timeouts (``settings.WEBHOOKS_CONNECT_TIMEOUT`` / ``WEBHOOKS_READ_TIMEOUT`` seconds)."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import urllib3
from django.conf import settings

from creditplatform.webhooks.urlguard import Target, check_url

USER_AGENT = "creditplatform-webhooks/1.0"
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class HttpResult:
    """``status`` (None when no answer), ``error`` text, ``duration_ms``."""

    status: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    timeout = urllib3.Timeout(connect=settings.WEBHOOKS_CONNECT_TIMEOUT,
                              read=settings.WEBHOOKS_READ_TIMEOUT)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, maxsize=1,
            server_hostname=target.host, assert_hostname=target.host,
            ssl_context=ssl.create_default_context())
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout,
                                      retries=False, maxsize=1)


def post(url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    """POST ``body`` to ``url`` after the SSRF check (again: DNS may have changed).

    Never raises for network trouble: the error is in the result. A 3xx is a failure (not
    followed). Raises :class:`~creditplatform.webhooks.exceptions.UnsafeWebhookUrl` when the
    URL no longer passes the guard.
    """
    target = check_url(url)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and not target.host.startswith("["):
        host_header = f"[{target.host}]" + ("" if target.port == default_port
                                            else f":{target.port}")
    all_headers = {"Host": host_header, "User-Agent": USER_AGENT,
                   "Content-Type": "application/json", **headers}
    started = time.monotonic()
    try:
        with _pool(target) as pool:
            response = pool.urlopen("POST", target.path, body=body, headers=all_headers,
                                    redirect=False, retries=False, preload_content=False,
                                    assert_same_host=False)
            response.read(MAX_RESPONSE_BYTES, decode_content=False)
            response.release_conn()
            status = response.status
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return HttpResult(status=None, error=f"{type(exc).__name__}"[:300],
                          duration_ms=int((time.monotonic() - started) * 1000))
    return HttpResult(status=status, error="" if 200 <= status < 300 else f"HTTP {status}",
                      duration_ms=int((time.monotonic() - started) * 1000))
