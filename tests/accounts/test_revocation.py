"""Revocation of issued JWTs by the user's token generation (``User.token_version``).

Sign out everywhere, deactivation and a staff flag change must refuse access tokens already
issued at once (not when their 5 minutes run out), without an extra query per request.
"""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import api_clients
from accounts.authentication import PlatformJWTAuthentication
from accounts.models import User
from accounts.tokens import TOKEN_VERSION_CLAIM, user_tokens_revoke
from compliance.models import AuditEvent
from tests.factories import ACTOR, TEST_PASSWORD, CustomerFactory

pytestmark = pytest.mark.django_db

LOGOUT_ALL = "/api/v1/auth/logout-all/"


def login(user: User) -> dict[str, str]:
    r = APIClient().post("/api/v1/auth/token/",
                         {"username": user.username, "password": TEST_PASSWORD}, format="json")
    assert r.status_code == 200, r.content
    return r.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def me(access: str):
    return bearer(access).get("/api/v1/me/")


def refresh(token: str):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def assert_revoked(response) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "token_revoked"


def test_issued_tokens_carry_the_generation_and_are_stored_hashed(customer):
    tokens = login(customer)
    for raw in (tokens["access"], tokens["refresh"]):
        assert token_backend.decode(raw)[TOKEN_VERSION_CLAIM] == 0
    stored = OutstandingToken.objects.get(user=customer).token
    # the outstanding row is the token as issued, claim included
    assert stored == "sha256:" + hashlib.sha256(tokens["refresh"].encode()).hexdigest()


def test_sign_out_everywhere_refuses_issued_access_and_refresh_tokens_at_once(customer):
    phone, laptop = login(customer), login(customer)
    other = CustomerFactory()
    others = login(other)
    assert me(phone["access"]).status_code == 200

    r = bearer(laptop["access"]).post(LOGOUT_ALL)
    assert r.status_code == 200, r.content
    assert r.json() == {"sessions": 0, "api_sign_ins": 2}

    assert_revoked(me(phone["access"]))
    assert_revoked(me(laptop["access"]))  # the caller's own token too
    assert_revoked(refresh(phone["refresh"]))
    assert_revoked(bearer(phone["access"]).post(LOGOUT_ALL))
    ev = AuditEvent.objects.get(event_type="auth.sign_out_everywhere")
    assert (ev.actor_id, ev.object_id, ev.details) == (str(customer.pk), str(customer.pk),
                                                       {"sessions": 0, "api_sign_ins": 2})
    refused = AuditEvent.objects.filter(event_type="auth.token_revoked", outcome="denied",
                                        object_id=str(customer.pk))
    assert sorted(refused.values_list("details__kind", flat=True)) == [
        "access", "access", "access", "refresh"]

    # a sign-in afterwards works, and another user's tokens were never touched
    fresh = login(customer)
    assert me(fresh["access"]).status_code == 200
    assert refresh(fresh["refresh"]).status_code == 200
    assert me(others["access"]).status_code == 200
    assert refresh(others["refresh"]).status_code == 200


def test_a_signed_out_device_refreshing_is_not_taken_for_reuse(customer):
    """The old device's refresh token was blacklisted by the sign-out; presenting it must not
    trip reuse detection, which would revoke the sign-in made after the sign-out."""
    old = login(customer)
    user_tokens_revoke(user=customer)
    fresh = login(customer)
    assert_revoked(refresh(old["refresh"]))
    assert not AuditEvent.objects.filter(event_type="auth.refresh_reuse").exists()
    assert me(fresh["access"]).status_code == 200
    assert refresh(fresh["refresh"]).status_code == 200


def test_refresh_reuse_revokes_access_tokens_too(customer):
    first, other_device = login(customer), login(customer)
    assert refresh(first["refresh"]).status_code == 200
    assert refresh(first["refresh"]).status_code == 401  # reuse: the family is revoked
    assert AuditEvent.objects.filter(event_type="auth.refresh_reuse").exists()
    assert_revoked(me(other_device["access"]))


def test_deactivation_refuses_at_once_and_reactivation_does_not_resurrect(customer):
    tokens = login(customer)
    customer.is_active = False
    customer.save()
    r = me(tokens["access"])
    assert r.status_code == 401 and r["Content-Type"] == "application/problem+json"
    assert refresh(tokens["refresh"]).status_code == 401
    customer.is_active = True
    customer.save()
    assert_revoked(me(tokens["access"]))
    assert_revoked(refresh(tokens["refresh"]))
    assert me(login(customer)["access"]).status_code == 200


def test_a_staff_flag_change_revokes_tokens(customer):
    """A token issued without the staff second factor must not become a staff token."""
    tokens = login(customer)
    User.objects.filter(pk=customer.pk).update(is_staff=True)
    assert_revoked(me(tokens["access"]))


def test_the_generation_never_goes_down(customer):
    """A stale instance saved in full must not bring revoked tokens back."""
    tokens = login(customer)
    stale = User.objects.get(pk=customer.pk)
    user_tokens_revoke(user=customer)
    stale.first_name = "Stale"
    stale.save()
    assert User.objects.get(pk=customer.pk).token_version == 1
    assert_revoked(me(tokens["access"]))


def test_partners_and_anonymous_cannot_sign_anyone_out(customer):
    client = api_clients.api_client_create(actor=ACTOR, name="p", scopes=list(
        api_clients.ApiClient.SCOPES))
    _, key = api_clients.api_key_issue(actor=ACTOR, client=client)
    partner = APIClient()
    partner.credentials(HTTP_AUTHORIZATION=f"ApiKey {key}")
    assert partner.post(LOGOUT_ALL).status_code == 403
    assert APIClient().post(LOGOUT_ALL).status_code == 401
    assert not AuditEvent.objects.filter(event_type="auth.sign_out_everywhere").exists()


def test_the_check_adds_no_query(customer):
    """The generation is read from the user row simplejwt loads anyway."""
    token = str(login(customer)["access"])
    request = APIRequestFactory().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    counts = {}
    for auth in (JWTAuthentication(), PlatformJWTAuthentication()):
        with CaptureQueriesContext(connection) as ctx:
            user, _ = auth.authenticate(request)
        counts[type(auth).__name__] = len(ctx.captured_queries)
        assert user.pk == customer.pk
    assert counts == {"JWTAuthentication": 1, "PlatformJWTAuthentication": 1}
    with CaptureQueriesContext(connection) as ctx:
        assert me(token).status_code == 200
    assert len(ctx.captured_queries) == 2  # the user, its groups (tests/perf budget)


def test_logout_all_is_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    op = SchemaGenerator().get_schema(request=None, public=True)["paths"][LOGOUT_ALL]["post"]
    assert "requestBody" not in op
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/SignOutEverywhereOutput")
    assert "token_revoked" in op["description"]
