"""Transport security (Data protection, item 5; docs/transport.md).

- Production settings pass ``check --deploy --fail-level WARNING`` and send HSTS (a year,
  subdomains, preload), redirect to HTTPS and set Secure, HttpOnly, SameSite cookies.
- A strict Content-Security-Policy in every mode; Swagger UI and the admin work under it.
- gunicorn with ``creditplatform/gunicorn.conf.py`` refuses TLS 1.2 and serves TLS 1.3.
- ``manage.py spki_pin`` prints the SPKI SHA-256 pin of the served certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.management import call_command
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
GUNICORN_CONF = ROOT / "creditplatform" / "gunicorn.conf.py"

# What the test runner's environment points at; production and the served process get their own.
_RUNNER_ONLY = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CACHE_KEY_PREFIX",
                "CELERY_TASK_ALWAYS_EAGER", "PASSWORD_HASHERS", "DATABASE_CONN_MAX_AGE",
                "FRAUD_DATABASE_URL", "FIELD_KEYRING_PATH", "DJANGO_SECURE_SSL_REDIRECT",
                "DJANGO_ALLOWED_HOSTS")


def production_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """DJANGO_DEBUG=false with real-looking secrets, a fresh key ring and files under var_dir."""
    env = {k: v for k, v in os.environ.items()
           if k not in _RUNNER_ONLY and not k.startswith(("GUNICORN_", "PYTEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="creditplatform.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SIGNING_KEY=secrets.token_urlsafe(64),
        FIELD_KEK=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        FIELD_KEYRING_AUTOCREATE="true",
        VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


# --- production settings -----------------------------------------------------------------------

def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in result.stdout, output
    assert "WARNINGS:" not in output and "ERRORS:" not in output, output


_PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client

names = ["DEBUG", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
         "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
         "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY",
         "CSRF_COOKIE_SAMESITE", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS"]
plain = Client().get("/healthz")
secure = Client().get("/healthz", secure=True)
login = Client().get("/admin/login/", secure=True)
print(json.dumps({
    "settings": {name: getattr(settings, name) for name in names},
    "plain": [plain.status_code, plain.headers.get("Location")],
    "secure": [secure.status_code, dict(secure.headers)],
    "csrf_cookie": {k: login.cookies["csrftoken"][k] for k in ("secure", "httponly", "samesite")},
}))
"""


def test_production_sends_hsts_redirects_and_sets_secure_cookies(tmp_path: Path) -> None:
    result = run_python(_PRODUCTION_PROBE, production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["settings"] == {
        "DEBUG": False,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
    }
    assert probe["plain"] == [301, "https://testserver/healthz"]
    status, headers = probe["secure"]
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert probe["csrf_cookie"] == {"secure": True, "httponly": True, "samesite": "Lax"}


def test_embedded_demo_has_csp_but_no_hsts_or_redirect(client: Client) -> None:
    # The suite runs the non-production settings (pytest-django only flips DEBUG at run time).
    assert settings.SECURE_HSTS_SECONDS == 0 and not settings.SECURE_SSL_REDIRECT
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


# --- Content-Security-Policy --------------------------------------------------------------------

def parse_csp(header: str) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in policy, f"directive {name} twice"
        policy[name] = values
    return policy


_INLINE = re.compile(r"<(script|style)\b([^>]*)>(.*?)</\1>", re.S | re.I)


def inline_blocks(html: str) -> list[tuple[str, str, str]]:
    """(tag, attributes, content) of each <script> without src and each <style>."""
    return [(tag.lower(), attrs, body) for tag, attrs, body in _INLINE.findall(html)
            if not (tag.lower() == "script" and re.search(r"\bsrc=", attrs))]


def test_policy_is_strict() -> None:
    policy = parse_csp(_policy_of_a_response())
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        sources = policy[directive]
        assert sources[0] == "'self'"
        assert not {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "data:", "*",
                    "https:", "http:"} & set(sources), (directive, sources)
    assert set(policy["img-src"]) == {"'self'", "data:"}  # swagger-ui.css icons are data: SVGs
    assert set(policy["worker-src"]) == {"'self'", "blob:"}  # Redoc's search worker


def _policy_of_a_response() -> str:
    return Client().get("/healthz").headers["Content-Security-Policy"]


def test_swagger_ui_runs_under_the_policy_with_same_origin_assets(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = parse_csp(response.headers["Content-Security-Policy"])
    html = response.content.decode()

    # Its inline init script and style run by the per-response nonce, nothing else inline.
    nonce_sources = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    assert len(nonce_sources) == 1 and nonce_sources == [
        s for s in policy["style-src"] if s.startswith("'nonce-")]
    nonce = nonce_sources[0][len("'nonce-"):-1]
    blocks = inline_blocks(html)
    assert {tag for tag, _, _ in blocks} == {"script", "style"}
    for tag, attrs, _ in blocks:
        assert f'nonce="{nonce}"' in attrs, (tag, attrs)
    markup = _INLINE.sub("", html)  # attributes only: no event handlers, style="" or js: URLs
    assert re.search(r"""<[^>]*\s(?:on[a-z]+|style)\s*=|javascript:""", markup, re.I) is None
    assert "SwaggerUIBundle(" in html  # the init script is the one that carries the nonce
    # A fresh nonce on every response.
    assert nonce not in client.get("/api/docs/").headers["Content-Security-Policy"]

    # Every asset it loads is same-origin static and served; the schema is same-origin too.
    assets = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 4  # css, favicon, bundle, standalone preset
    for url in assets:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        assert url.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/")
                              else "/" + settings.STATIC_URL), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert b"".join(asset.streaming_content), url
    schema_url = re.search(r'url: "([^"]+)"', html)
    assert schema_url and schema_url.group(1) == "/api/schema/"
    assert client.get("/api/schema/").status_code == 200


def test_redoc_runs_under_the_policy(client: Client) -> None:
    response = client.get("/api/redoc/")
    assert response.status_code == 200
    policy = parse_csp(response.headers["Content-Security-Policy"])
    nonce = next(s for s in policy["script-src"] if s.startswith("'nonce-"))[len("'nonce-"):-1]
    assert f"'nonce-{nonce}'" in policy["style-src"]
    html = response.content.decode()
    for tag, attrs, _ in inline_blocks(html):
        assert f'nonce="{nonce}"' in attrs, (tag, attrs)
    # Redoc is handed the nonce for the styles it injects; nothing is loaded from elsewhere.
    assert f'redocSettings.nonce = "{nonce}";' in html
    for url in re.findall(r'\b(?:src|href)="([^"]+)"', html):
        assert not urlsplit(url).netloc, url
        assert client.get(url).status_code == 200, url


def test_swagger_css_needs_no_more_than_self_and_data_images(client: Client) -> None:
    html = client.get("/api/docs/").content.decode()
    css_url = re.search(r'<link rel="stylesheet" href="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    css = b"".join(client.get(css_url).streaming_content).decode()
    for url in re.findall(r"""url\(\s*["']?([^"')]+)""", css):
        assert url.startswith("data:image/") or not urlsplit(url).netloc, url
    assert "@import" not in css


def test_admin_works_under_the_policy(admin_client: Client) -> None:
    for path in ("/admin/login/", "/admin/", "/admin/accounts/creditaccount/"):
        response = admin_client.get(path, follow=True)
        assert response.status_code == 200, path
        assert "Content-Security-Policy" in response.headers, path
        html = response.content.decode()
        policy = parse_csp(response.headers["Content-Security-Policy"])
        for tag, _, body in inline_blocks(html):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy[f"{tag}-src"], (path, tag, body)
        markup = _INLINE.sub("", html)
        assert re.search(r"""<[^>]*\s(?:on[a-z]+|style)\s*=|javascript:""", markup, re.I) is None
        for url in re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', html):
            assert not urlsplit(url).netloc, (path, url)


def test_admin_change_list_style_hash_matches_django() -> None:
    """The one inline <style> of Django's admin (change list without actions) is allowed by hash."""
    import django.contrib.admin

    template = Path(django.contrib.admin.__file__).with_name("templates") / "admin" / \
        "change_list.html"
    styles = re.findall(r"<style>(.*?)</style>", template.read_text(), re.S)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src"]


# --- gunicorn over TLS 1.3 ------------------------------------------------------------------------

@dataclass
class TLSServer:
    port: int
    cert_path: Path
    cert: x509.Certificate


def make_certificate(directory: Path) -> tuple[Path, Path, x509.Certificate]:
    """A self-signed P-256 certificate for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path, cert


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_context(cert_path: Path, *, minimum: ssl.TLSVersion | None = None,
                   maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert_path))
    if minimum is not None:
        context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    return context


def get(port: int, context: ssl.SSLContext, path: str = "/healthz"
        ) -> tuple[int, dict[str, str], bytes, str | None]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("GET", path)
        version = conn.sock.version()  # type: ignore[union-attr]
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read(), version
    finally:
        conn.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    """gunicorn -c creditplatform/gunicorn.conf.py on 127.0.0.1 with a generated certificate."""
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path, cert = make_certificate(directory)
    port = free_port()
    env = production_env(
        directory / "var", DJANGO_ALLOWED_HOSTS="127.0.0.1", GUNICORN_CERTFILE=str(cert_path),
        GUNICORN_KEYFILE=str(key_path), GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1",
    )
    log_path = directory / "gunicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            # No control socket: it would sit in $HOME, shared with any other gunicorn there.
            [str(GUNICORN), "-c", str(GUNICORN_CONF), "--no-control-socket",
             "creditplatform.wsgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        context = client_context(cert_path, minimum=ssl.TLSVersion.TLSv1_3)
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if get(port, context)[0] == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not serve within 60 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield TLSServer(port, cert_path, cert)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


def test_gunicorn_refuses_tls_1_2(tls_server: TLSServer) -> None:
    context = client_context(tls_server.cert_path, minimum=ssl.TLSVersion.TLSv1_2,
                             maximum=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError) as refused:
        get(tls_server.port, context)
    # Refused for its protocol version (alert 70), not for anything about the certificate.
    assert not isinstance(refused.value, ssl.SSLCertVerificationError)
    assert "PROTOCOL" in (refused.value.reason or "").upper(), refused.value


def test_gunicorn_serves_tls_1_3(tls_server: TLSServer) -> None:
    context = client_context(tls_server.cert_path, minimum=ssl.TLSVersion.TLSv1_3)
    status, headers, body, version = get(tls_server.port, context)
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert version == "TLSv1.3"
    # Production settings over real TLS: the request is secure (no redirect) and gets HSTS.
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_gunicorn_config_requires_a_certificate(tmp_path: Path) -> None:
    env = production_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{free_port()}")
    result = subprocess.run(
        [str(GUNICORN), "-c", str(GUNICORN_CONF), "--check-config",
         "creditplatform.wsgi:application"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "GUNICORN_CERTFILE" in result.stdout + result.stderr


# --- SPKI pins --------------------------------------------------------------------------------

def expected_pin(public_key: object) -> str:
    spki = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def spki_pin(*args: str) -> str:
    out = StringIO()
    call_command("spki_pin", *args, stdout=out)
    return out.getvalue().strip()


def test_spki_pin_of_the_served_certificate(tls_server: TLSServer) -> None:
    pin = spki_pin("--host", "127.0.0.1", "--port", str(tls_server.port))
    assert pin == expected_pin(tls_server.cert.public_key())
    assert re.fullmatch(r"sha256/[A-Za-z0-9+/]{43}=", pin)


def test_spki_pin_of_a_certificate_file_and_of_a_backup_key(tmp_path: Path) -> None:
    cert_path, key_path, cert = make_certificate(tmp_path)
    assert spki_pin("--cert", str(cert_path)) == expected_pin(cert.public_key())
    # The backup key's pin, before any certificate uses it: from the private key or a CSR.
    assert spki_pin("--key", str(key_path)) == expected_pin(cert.public_key())
    backup = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api")]))
           .sign(backup, hashes.SHA256()))
    csr_path = tmp_path / "backup.csr"
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    assert spki_pin("--key", str(csr_path)) == expected_pin(backup.public_key())
    assert spki_pin("--key", str(csr_path)) != spki_pin("--cert", str(cert_path))
