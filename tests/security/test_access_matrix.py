"""BOLA/BFLA matrix generated from the OpenAPI schema (issue "Zero-trust access", item 4).

Every operation drf-spectacular puts in the schema is called as every principal of
``policy.ROLES``, on real objects owned by the owner, with a valid request; the answer must be
the one ``policy.POLICY`` names. A refusal must carry the stable problem+json ``code``, leak
none of the owner's objects and change nothing (ledger, balances, holds, cards, users).

An operation of the schema without a policy row fails (``test_schema_and_policy_agree``), and
so does a route under ``/api/`` that hides from the schema (``test_no_api_route_hides_...``).
"""

from __future__ import annotations

import pytest

from accounts.models import ApiClient
from tests.security.harness import (
    build_call,
    principal,
    schema_operations,
    send,
    snapshot,
    url_routes,
    view_methods,
)
from tests.security.policy import (
    KNOWN_BUGS,
    POLICY,
    PUBLIC_UNDOCUMENTED_ROUTES,
    REFUSAL_CODES,
    ROLES,
)


def _cases() -> list[object]:
    cases = []
    for method, path in sorted(schema_operations(), key=lambda k: (k[1], k[0])):
        for role in ROLES:
            bug = KNOWN_BUGS.get((method, path, role))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            cases.append(pytest.param(method, path, role, marks=marks,
                                      id=f"{method} {path} as {role}"))
    return cases


# --- the table covers the API -------------------------------------------------------------

def test_schema_and_policy_agree() -> None:
    """Every operation of the schema has a reviewed policy row, and no row is stale."""
    ops, rows = set(schema_operations()), set(POLICY)
    assert not ops - rows, (
        f"operations without an access policy (add a row to tests/security/policy.py): "
        f"{sorted(ops - rows)}")
    assert not rows - ops, f"policy rows for operations the schema no longer has: " \
                           f"{sorted(rows - ops)}"


def test_no_api_route_hides_from_the_schema() -> None:
    """A view excluded from the schema would escape the matrix: every route under /api/ is
    either an operation of the schema or a documented public docs route."""
    ops = set(schema_operations())
    hidden = []
    for route, callback in url_routes():
        if not route.startswith("/api/") or route in PUBLIC_UNDOCUMENTED_ROUTES:
            continue
        for method in view_methods(callback):
            if (method, route) not in ops:
                hidden.append((method, route))
    assert not hidden, f"API routes missing from the OpenAPI schema: {sorted(hidden)}"


def test_policy_is_well_formed() -> None:
    for key, op in POLICY.items():
        assert set(op.expect) == set(ROLES), key
        if op.partner_scope is not None:
            assert op.partner_scope in ApiClient.SCOPES, key
        else:  # closed to partners: no partner may pass
            for role in ("partner_without_scope", "partner_scoped", "partner_foreign"):
                assert op.public or op.expect[role].status == 403, (key, role)
        assert op.public or op.expect["anonymous"].status == 401, key
        if op.witness:
            assert op.expect["owner"].sees_owner, key
    for method, path, role in KNOWN_BUGS:
        assert (method, path) in POLICY and role in ROLES, (method, path, role)


# --- the matrix ---------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "role"), _cases())
def test_access_matrix(world, method: str, path: str, role: str) -> None:
    key = (method, path)
    if key not in POLICY:
        pytest.fail(f"{method} {path} has no access policy: add a row to "
                    f"tests/security/policy.py (a new endpoint cannot ship unguarded)")
    expected = POLICY[key].expect[role]
    client = principal(role, key, world)
    call = build_call(key, world)
    before = snapshot()

    response = send(client, call)

    content = response.content.decode()
    assert response.status_code == expected.status, (
        f"{method} {call.url} as {role}: expected {expected.status}, "
        f"got {response.status_code}: {content[:300]}")

    if not expected.allowed:
        assert response["Content-Type"].startswith("application/problem+json"), content
        assert response.json()["code"] in REFUSAL_CODES[expected.status], content
        leaked = [i for i in world.owner_ids() if i in content]
        assert not leaked, f"a refusal leaks the owner's objects {leaked}: {content[:300]}"
        assert snapshot() == before, f"a refused {method} {path} as {role} changed state"
        return

    if expected.sees_owner is True:
        witness = POLICY[key].witness
        if witness:
            assert world.witness(witness) in content, (
                f"{role} should see the owner's {witness}: {content[:300]}")
    elif expected.sees_owner is False:
        leaked = [i for i in world.owner_ids() if i in content]
        assert not leaked, f"{role} sees the owner's objects {leaked}: {content[:300]}"
        if method == "GET":
            assert snapshot() == before

    if method == "POST" and not POLICY[key].public:
        assert snapshot() != before, f"a {response.status_code} {method} {path} changed nothing"
