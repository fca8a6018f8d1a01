"""gunicorn serving HTTPS itself, with TLS 1.3 as the minimum version (docs/transport.md).

    GUNICORN_CERTFILE=/tls/fullchain.pem GUNICORN_KEYFILE=/tls/privkey.pem \\
        gunicorn -c creditplatform/gunicorn.conf.py creditplatform.wsgi:application

Environment: ``GUNICORN_CERTFILE`` and ``GUNICORN_KEYFILE`` (PEM; required: this configuration
never serves plain HTTP), ``GUNICORN_BIND`` (default ``127.0.0.1:8443``; ``0.0.0.0:8443`` in a
container), ``GUNICORN_WORKERS`` (default 3). Behind a load balancer that terminates TLS, run
gunicorn without this file and keep the TLS 1.3 floor on the balancer.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

certfile = os.environ.get("GUNICORN_CERTFILE", "")
keyfile = os.environ.get("GUNICORN_KEYFILE", "")
if not (certfile and keyfile):
    raise SystemExit("creditplatform/gunicorn.conf.py serves TLS only: set GUNICORN_CERTFILE "
                     "and GUNICORN_KEYFILE (PEM certificate chain and private key)")

bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8443")]
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))


def ssl_context(config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]
                ) -> ssl.SSLContext:
    """gunicorn's context (certificate, key, ciphers from the config), refusing TLS < 1.3."""
    context = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
