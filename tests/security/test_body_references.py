"""BOLA through the request body: object references in a POST body are access-checked too.

The matrix fills path parameters; here every uuid-valued field of every POST body in the
generated schema (``card`` of a charge or authorization, ``account`` of a new card) points at
an object the caller may not reach, while the path stays one the caller may act on. The
answer must be 404, exactly as for a missing object, and nothing may change. A new
uuid-valued body field without a foreign object below fails, so it cannot ship unchecked.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.security.harness import (
    World,
    build_call,
    principal,
    request_schema,
    schema_operations,
    send,
    snapshot,
)
from tests.security.policy import POLICY

#: For each referencing body field: an object of that kind the principals of the cases
#: (the owner, a partner the owner's card is issued for) may not reach.
FOREIGN: dict[str, Callable[[World], object]] = {
    "card": lambda w: w.other_card.pk,        # the other customer's (issued for another partner)
    "account": lambda w: w.other_account.pk,  # the other customer's
}


def _reference_fields(op: dict) -> list[str]:
    spec = request_schema(op) or {}
    return sorted(name for name, prop in spec.get("properties", {}).items()
                  if prop.get("format") == "uuid")


def _cases() -> list[object]:
    cases = []
    for key, op in sorted(schema_operations().items()):
        if key[0] != "POST" or key not in POLICY or POLICY[key].public:
            continue
        roles = [r for r in ("owner", "partner_scoped") if POLICY[key].expect[r].allowed]
        for field in _reference_fields(op):
            cases += [pytest.param(key[0], key[1], field, role,
                                   id=f"{key[0]} {key[1]} {field}= as {role}") for role in roles]
    return cases


def test_there_are_body_references_to_check() -> None:
    assert _cases(), "no POST body references an object: the schema changed?"


@pytest.mark.parametrize(("method", "path", "field", "role"), _cases())
def test_body_reference_to_someone_elses_object_is_not_found(
        world: World, method: str, path: str, field: str, role: str) -> None:
    key = (method, path)
    assert field in FOREIGN, f"{key}: no foreign object for body field {field!r} (add to FOREIGN)"
    client = principal(role, key, world)
    call = build_call(key, world)
    body = {**(call.body or {}), field: str(FOREIGN[field](world))}
    before = snapshot()

    response = send(client, call, body=body)

    assert response.status_code == 404, response.content[:300]
    assert response.json()["code"] == "not_found"
    assert snapshot() == before
