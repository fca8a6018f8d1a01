"""``manage.py spki_pin --host H [--port 443] | --cert PATH | --key PATH``.

Prints the certificate pin of a public key as mobile apps configure it (OkHttp
``CertificatePinner``, Android network security config, TrustKit, HPKP):
``sha256/`` + base64(SHA-256(DER SubjectPublicKeyInfo)). The pin depends only on the key pair, so
a certificate renewed with the same key keeps its pin. ``--key`` takes a private or public key
PEM: the pin of a backup key, to ship in the apps before any certificate uses it (README).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from django.core.management.base import BaseCommand, CommandError, CommandParser


def spki_pin(public_key: PublicKeyTypes) -> str:
    """``sha256/<base64>`` of the DER SubjectPublicKeyInfo of ``public_key``."""
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def served_certificate(host: str, port: int, timeout: float = 10.0) -> x509.Certificate:
    """The leaf certificate ``host:port`` serves (TLS handshake only; no HTTP request).

    The chain is not verified: this reports what is served, whoever signed it (a self-signed or
    private-CA certificate too). Compare the printed pin with the one you expect.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    server_name = None if _is_ip(host) else host
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise CommandError(f"{host}:{port} presented no certificate")
    return x509.load_der_x509_certificate(der)


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False


def _public_key_from_pem(data: bytes) -> PublicKeyTypes:
    if b"PRIVATE KEY-----" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    if b"CERTIFICATE REQUEST-----" in data:
        return x509.load_pem_x509_csr(data).public_key()
    return serialization.load_pem_public_key(data)


class Command(BaseCommand):
    help = ("Print the SPKI SHA-256 pin (sha256/<base64>) of the certificate a TLS server "
            "serves (--host/--port), of a PEM certificate (--cert) or of a PEM key or CSR (--key).")

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--host", help="connect and read the served leaf certificate")
        source.add_argument("--cert", type=Path, help="PEM certificate (the first of a chain)")
        source.add_argument("--key", type=Path,
                            help="PEM private key, public key or CSR (e.g. the backup key)")
        parser.add_argument("--port", type=int, default=443)
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            if opts["host"]:
                public_key = served_certificate(opts["host"], opts["port"],
                                                opts["timeout"]).public_key()
            elif opts["cert"]:
                public_key = x509.load_pem_x509_certificate(opts["cert"].read_bytes()).public_key()
            else:
                public_key = _public_key_from_pem(opts["key"].read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise CommandError(f"cannot read the public key: {exc}") from exc
        self.stdout.write(spki_pin(public_key))
