"""The SSRF guard refuses every URL that is not https on a public address."""

from __future__ import annotations

import socket

import pytest

from creditplatform.webhooks.exceptions import UnsafeWebhookUrl
from creditplatform.webhooks.urlguard import check_url


@pytest.mark.parametrize("url", [
    "http://93.184.215.14/hook",              # not https
    "ftp://93.184.215.14/hook",
    "https://127.0.0.1/hook",                 # loopback
    "https://localhost/hook",                 # a name resolving to loopback
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",        # IPv4-mapped loopback
    "https://10.1.2.3/hook",                  # RFC 1918
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",                 # unique local
    "https://100.64.0.1/hook",                # shared address space (CGNAT)
    "https://224.0.0.1/hook",                 # multicast
    "https://240.0.0.1/hook",                 # reserved
    "https://0.0.0.0/hook",                   # unspecified
    "https://203.0.113.7/hook",               # documentation range, not global
    "https://[2002:7f00:1::]/hook",           # 6to4 of 127.0.0.1
    "https://[2002:a00:1::]/hook",            # 6to4 of 10.0.0.1
    "https://192.0.0.8/hook",                 # IETF protocol assignments (RFC 6890)
    "https://user:pw@93.184.215.14/hook",     # user info
    "https:///hook",                          # no host
    "https://no-such-host.invalid/hook",      # does not resolve
])
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhookUrl):
        check_url(url)


def test_public_address_is_accepted_and_pinned() -> None:
    target = check_url("https://93.184.215.14:8443/in?x=1")
    assert (target.scheme, target.address, target.port, target.path) == (
        "https", "93.184.215.14", 8443, "/in?x=1")


def test_a_name_with_one_private_address_among_public_ones_is_refused(monkeypatch) -> None:
    def fake(host, port, *a, **kw):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(UnsafeWebhookUrl):
        check_url("https://hooks.partner.example/in")


def test_test_setting_admits_loopback_only(settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_FOR_TESTS = True
    assert check_url("http://127.0.0.1:9/x").address == "127.0.0.1"
    with pytest.raises(UnsafeWebhookUrl):
        check_url("http://10.0.0.1/x")
    with pytest.raises(UnsafeWebhookUrl):
        check_url("https://169.254.169.254/x")
