"""SSRF guard for webhook URLs: checked at create time and again before every delivery.

A URL is accepted when it is ``https`` (no user info) and EVERY address its host resolves to is
a public unicast address: not loopback, link-local (169.254/16 holds the cloud metadata
service), private (RFC 1918, fc00::/7), shared (100.64/10), multicast, reserved, unspecified,
nor an IPv4-mapped IPv6 form of one of those. Delivery connects to the very address that was
checked (the name is not resolved twice), so DNS rebinding between check and connect cannot
point the request inside. Redirects are never followed (``creditplatform.webhooks.delivery``).

``settings.WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS`` (off by default, refused outside DEBUG) admits
``http`` and loopback addresses only, for the integration test's local receiver.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from creditplatform.webhooks.exceptions import UnsafeWebhookUrl


@dataclass(frozen=True)
class Target:
    """Where to connect: ``address`` is the checked IP; ``host`` goes in Host/SNI."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def _allow_loopback() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS", False))


#: Ranges Python's ``is_global`` admits that still reach somewhere internal: the IETF protocol
#: assignments block (RFC 6890; 192.0.0.8 and friends).
_ALSO_REFUSED = (ipaddress.ip_network("192.0.0.0/24"),)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6 (mapped, 6to4 2002::/16, Teredo): judge the IPv4 address,
        # and refuse the tunnel forms outright when that address is not public.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            if ip.ipv4_mapped is not None:
                ip = embedded
            elif not _is_public(embedded):
                return False
    if any(ip in net for net in _ALSO_REFUSED if net.version == ip.version):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback
                                 or ip.is_link_local or ip.is_private or ip.is_unspecified)


def check_url(url: str) -> Target:
    """Resolve and check ``url``; return the address to connect to.

    Raises:
        UnsafeWebhookUrl: not https, user info present, no host, unresolvable, or any resolved
            address not public (see the module doc).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl("The URL is malformed.") from exc
    allowed_schemes = ("https", "http") if _allow_loopback() else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeWebhookUrl("Webhook URLs must use https.")
    if parts.username or parts.password or not parts.hostname:
        raise UnsafeWebhookUrl("The URL needs a host and no user info.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl("The URL's host does not resolve.") from exc
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not _is_public(ip) and not (_allow_loopback() and ip.is_loopback):
            raise UnsafeWebhookUrl(
                "The URL points at a loopback, link-local, private, multicast or reserved "
                "address.")
        addresses.append(str(ip))
    if not addresses:
        raise UnsafeWebhookUrl("The URL's host does not resolve.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, address=addresses[0], path=path)
