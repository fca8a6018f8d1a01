"""Token attacks and session revocation: each hostile token answers 401."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from rest_framework_simplejwt.tokens import RefreshToken

from compliance.models import AuditEvent
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

KEY = settings.SIMPLE_JWT["SIGNING_KEY"]
AUD = settings.SIMPLE_JWT["AUDIENCE"]
ISS = settings.SIMPLE_JWT["ISSUER"]


def claims(user, **over):
    now = dt.datetime.now(dt.UTC)
    base = {"token_type": "access", "sub": str(user.pk), "jti": "x" * 32, "aud": AUD,
            "iss": ISS, "iat": int(now.timestamp()),
            "exp": int((now + dt.timedelta(minutes=5)).timestamp())}
    valid = RefreshToken.for_user(user).access_token
    base["hash_password"] = valid["hash_password"]
    base.update(over)
    return base


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def get_me(api, token):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/me/")


def test_valid_forged_token_control(customer, api):
    """Control: a token built the same way with the real key is accepted (so 401s below mean
    the attack was caught, not that the builder is broken)."""
    assert get_me(api, jwt.encode(claims(customer), KEY, algorithm="HS256")).status_code == 200


def _public_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("attack", [
    "alg_none", "hs256_with_public_key", "expired", "nbf_future", "wrong_aud", "wrong_iss",
    "refresh_as_access", "changed_signature", "hostile_kid", "no_sub", "wrong_key",
])
def test_token_attacks_answer_401(customer, api, attack):
    c = claims(customer)
    if attack == "alg_none":
        token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(c)}."
    elif attack == "hs256_with_public_key":
        # the classic RS256->HS256 confusion: HMAC keyed with a public key (PyJWT refuses to
        # make one, so it is built by hand)
        signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(c)}"
        mac = hmac.new(_public_pem(), signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    elif attack == "expired":
        token = jwt.encode(claims(customer, exp=int(dt.datetime.now(dt.UTC).timestamp()) - 1),
                           KEY, algorithm="HS256")
    elif attack == "nbf_future":
        future = int((dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).timestamp())
        token = jwt.encode(claims(customer, nbf=future), KEY, algorithm="HS256")
    elif attack == "wrong_aud":
        token = jwt.encode(claims(customer, aud="someone-else"), KEY, algorithm="HS256")
    elif attack == "wrong_iss":
        token = jwt.encode(claims(customer, iss="https://evil.example"), KEY, algorithm="HS256")
    elif attack == "refresh_as_access":
        token = str(RefreshToken.for_user(customer))
    elif attack == "changed_signature":
        good = jwt.encode(c, KEY, algorithm="HS256")
        head, body, sig = good.split(".")
        token = f"{head}.{body}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    elif attack == "hostile_kid":
        token = jwt.encode(c, "attacker-key-that-is-long-enough-0123456789", algorithm="HS256",
                           headers={"kid": "../../../../dev/null"})
    elif attack == "no_sub":
        c.pop("sub")
        token = jwt.encode(c, KEY, algorithm="HS256")
    else:
        token = jwt.encode(c, "not-the-signing-key-but-long-enough-0123456789", algorithm="HS256")
    r = get_me(api, token)
    assert r.status_code == 401, (attack, r.content)
    assert r["Content-Type"] == "application/problem+json"


def login(api, user):
    r = api().post("/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD},
                   format="json")
    assert r.status_code == 200
    return r.json()


def refresh(api, token):
    return api().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def test_refresh_reuse_revokes_every_session(customer, api):
    first = login(api, customer)
    other_session = login(api, customer)
    rotated = refresh(api, first["refresh"])
    assert rotated.status_code == 200
    reuse = refresh(api, first["refresh"])
    assert reuse.status_code == 401
    assert AuditEvent.objects.filter(event_type="auth.refresh_reuse").exists()
    # every refresh token of the user is now dead, including the new one and other sessions
    assert refresh(api, rotated.json()["refresh"]).status_code == 401
    assert refresh(api, other_session["refresh"]).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_yield_at_most_one_pair(customer, api):
    token = login(api, customer)["refresh"]
    results = []
    barrier = threading.Barrier(8)

    def go():
        from django.db import connection

        barrier.wait()
        results.append(refresh(api, token).status_code)
        connection.close()

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) <= 1 and len(results) == 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_reuse_of_several_tokens_never_fails_with_a_deadlock(customer, api):
    """Stolen tokens of several sessions replayed at once, while the rightful devices refresh:
    each reuse revokes the whole family. Every refresh of one user locks the user row first,
    so the revocations (which blacklist the other sessions' tokens) never deadlock with each
    other or with a rotation (a deadlock was a 500)."""
    from django.db import connection

    from accounts.models import User

    rounds, sessions = 3, 5
    version = User.objects.get(pk=customer.pk).token_version
    for _ in range(rounds):
        old, new = [], []
        for _ in range(sessions):
            first = login(api, customer)["refresh"]
            old.append(first)
            new.append(refresh(api, first).json()["refresh"])
        results: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(2 * sessions)

        def go(token, barrier=barrier, results=results, errors=errors):
            try:
                barrier.wait()
                results.append(refresh(api, token).status_code)
            except BaseException as exc:  # noqa: BLE001 - a deadlock surfaces here
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=go, args=(t,)) for t in old + new]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert sorted(set(results)) in ([401], [200, 401]) and len(results) == 2 * sessions
        assert results.count(401) >= sessions           # every replayed token is refused
        # ... and the family is dead afterwards, whichever request came first
        assert all(refresh(api, t).status_code == 401 for t in new)
    assert User.objects.get(pk=customer.pk).token_version > version


def test_password_change_and_deactivation_stop_tokens_at_once(customer, api):
    tokens = login(api, customer)
    assert get_me(api, tokens["access"]).status_code == 200
    customer.set_password("another long passphrase 77")
    customer.save()
    assert get_me(api, tokens["access"]).status_code == 401
    assert refresh(api, tokens["refresh"]).status_code == 401
    customer.set_password(TEST_PASSWORD)
    customer.save()
    fresh = login(api, customer)
    customer.is_active = False
    customer.save()
    assert get_me(api, fresh["access"]).status_code == 401
    assert refresh(api, fresh["refresh"]).status_code == 401


def test_logout_blacklists_refresh(customer, api):
    tokens = login(api, customer)
    r = api().post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert r.status_code == 204
    assert refresh(api, tokens["refresh"]).status_code == 401


def test_refresh_tokens_are_not_stored_in_clear(customer, api):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    tokens = login(api, customer)
    stored = list(OutstandingToken.objects.values_list("token", flat=True))
    assert stored and all(t.startswith("sha256:") for t in stored)
    assert tokens["refresh"] not in stored
    assert refresh(api, tokens["refresh"]).status_code == 200  # revocation works by jti


@pytest.mark.django_db
def test_staff_need_their_second_factor_for_an_api_token(settings):
    """A staff token reaches refunds and reversals: a password alone must not get one."""
    from django.contrib.auth.models import Group
    from django_otp.oath import totp

    from accounts.models import SealedTOTPDevice
    from tests.factories import UserFactory

    settings.ADMIN_REQUIRE_OTP = True
    admin = UserFactory(is_staff=True)
    admin.groups.add(Group.objects.get(name="platform_admin"))
    device = SealedTOTPDevice(user=admin, name="phone", confirmed=True)
    device.set_secret(b"api-token-otp-secret-01")
    device.save()
    from rest_framework.test import APIClient

    client = APIClient()
    url = "/api/v1/auth/token/"
    creds = {"username": admin.username, "password": TEST_PASSWORD}

    r = client.post(url, creds, format="json")
    assert r.status_code == 401 and r.json()["code"] == "otp_required"
    assert "access" not in r.json()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    r = client.post(url, {**creds, "otp_token": f"{code:06d}"}, format="json")
    assert r.status_code == 200 and "access" in r.json()
    wrong = f"{(code + 1) % 1_000_000:06d}"  # after the success: django-otp throttles failures
    r = client.post(url, {**creds, "otp_token": wrong}, format="json")
    assert r.status_code == 401 and r.json()["code"] == "otp_required"

    customer = UserFactory()  # cardholders are not asked for one
    r = client.post(url, {"username": customer.username, "password": TEST_PASSWORD},
                    format="json")
    assert r.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_role_without_staff_status_grants_nothing_through_a_password_only_token(
        customer, api, settings):
    """A non-staff user put in a privileged group by mistake signs in without a second factor;
    that token must not carry the role's permissions (refunds of anyone's charge, reversals).
    Once made staff, the earlier token is refused and the sign-in asks for the code."""
    from django.contrib.auth.models import Group

    from accounts.models import CreditAccount
    from ledger import services
    from ledger.models import JournalEntry
    from tests.factories import UserFactory

    settings.ADMIN_REQUIRE_OTP = True
    charge = services.charge_create(actor=customer, amount=5000, currency="EUR",
                                    account_id=CreditAccount.objects.get(owner=customer).pk).entry
    insider = UserFactory(is_staff=False)
    insider.groups.add(Group.objects.get(name="platform_admin"))
    insider = type(insider).objects.get(pk=insider.pk)
    assert not insider.has_perm("ledger.refund_journalentry")
    assert not insider.has_module_perms("ledger")
    token = login(api, insider)["access"]                  # no second factor asked
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for path, body in ((f"/api/v1/transactions/{charge.pk}/refunds/", {"amount": 100}),
                       (f"/api/v1/transactions/{charge.pk}/reversals/", {"reason": "x"})):
        r = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
        assert r.status_code == 404, (path, r.status_code, r.content)
    assert JournalEntry.objects.filter(kind__in=["refund", "reversal"]).count() == 0

    insider.is_staff = True                                # now staff: the role applies ...
    insider.save()
    insider = type(insider).objects.get(pk=insider.pk)
    assert insider.has_perm("ledger.refund_journalentry")
    assert get_me(api, token).status_code == 401           # ... but not to the old token
    r = api().post("/api/v1/auth/token/", {"username": insider.username,
                                           "password": TEST_PASSWORD}, format="json")
    assert r.status_code == 401 and r.json()["code"] == "otp_required"


@pytest.mark.parametrize("jti", [None, "", 5, ["a"], "\x00", "a\x00b"])
def test_refresh_tokens_with_a_malformed_jti_are_refused_not_a_500(customer, api, jti):
    """Validly signed (the key leaked, or a bug in a token issuer) but with a jti that is
    missing, not a string, or holds a NUL (which PostgreSQL text cannot store: was a 500)."""
    from accounts.models import User

    payload = jwt.decode(login(api, customer)["refresh"], KEY, algorithms=["HS256"],
                         audience=AUD, issuer=ISS)
    if jti is None:
        payload.pop("jti")
    else:
        payload["jti"] = jti
    r = refresh(api, jwt.encode(payload, KEY, algorithm="HS256"))
    assert r.status_code == 401 and r.json()["code"] == "token_not_valid"
    assert User.objects.get(pk=customer.pk).token_version == customer.token_version
