"""Fuzzing every operation of the OpenAPI schema with schemathesis (issue 8, item 2).

The schema is what ``/api/schema/`` serves, loaded from the WSGI application itself
(``schemathesis.openapi.from_wsgi``: no server, no network). Every operation gets
``EXAMPLES_PER_OPERATION`` generated requests (at least ``MIN_TOTAL_CASES`` in all), sent with
valid credentials: the JWT of a cardholder who owns an account, a card, a charge and an open
authorization (a platform admin's JWT for refunds and reversals, which need its permission;
a partner's API key with every scope for the partner-only webhook endpoints). Half of the cases
of an operation with path parameters use the real ids of those objects, so bodies reach the
services instead of stopping at 404.

Checks on every response: no 5xx (``not_a_server_error``); the status code is documented
(``status_code_conformance``); the content type is the documented one
(``content_type_conformance``); the body matches the documented schema
(``response_schema_conformance``).

``FUZZ_SEED`` (printed) reproduces a run; ``FUZZ_EXAMPLES`` changes the per-operation count.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import api_clients
from accounts.models import ApiClient, Card
from ledger import services
from tests.factories import ACTOR, CustomerFactory, UserFactory, add_card

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "40"))
MIN_TOTAL_CASES = 1000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: operations called as a platform admin (they need a model permission a cardholder lacks)
ADMIN_OPS = ("/refunds/", "/reversals/")
#: operations of partners only (an API key with every scope)
PARTNER_OPS = ("/webhooks/",)


def _world() -> dict[str, Any]:
    from django.contrib.auth.models import Group

    owner = CustomerFactory(credit_limit=100_000_000)
    account = owner.credit_accounts.get()
    card = add_card(owner, "4111111111111111")
    entry = services.charge_create(actor=owner, account_id=account.pk, amount=50_000,
                                   currency="EUR", card_id=card.pk, merchant="fuzz").entry
    hold, _ = services.hold_create(actor=owner, account_id=account.pk, amount=20_000,
                                   currency="EUR", card_id=card.pk, merchant="fuzz-hotel")
    admin = UserFactory(is_staff=True)
    admin.groups.add(Group.objects.get(name="platform_admin"))
    partner = api_clients.api_client_create(actor=ACTOR, name="fuzz-partner",
                                            scopes=list(ApiClient.SCOPES))
    _, key = api_clients.api_key_issue(actor=ACTOR, client=partner)
    Card.objects.filter(pk=card.pk).update(issued_for=partner)
    return {
        "ids": {"account_id": str(account.pk), "card_id": str(card.pk),
                "entry_id": str(entry.pk), "hold_id": str(hold.pk)},
        "owner": {"Authorization": f"Bearer {AccessToken.for_user(owner)}"},
        "admin": {"Authorization": f"Bearer {AccessToken.for_user(admin)}"},
        "partner": {"Authorization": f"ApiKey {key}"},
    }


def _headers_for(path: str, world: dict[str, Any]) -> dict[str, str]:
    if any(part in path for part in ADMIN_OPS):
        return world["admin"]
    if any(part in path for part in PARTNER_OPS):
        return world["partner"]
    return world["owner"]


def _fuzz(strategy: Any, fuzz_seed: int) -> int:
    """Run ``EXAMPLES_PER_OPERATION`` cases of one operation; how many ran."""
    count = 0

    @seed(fuzz_seed)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal count
        count += 1
        case.call_and_validate(checks=CHECKS)

    run()
    return count


@pytest.fixture
def wsgi_in_test_transaction() -> Any:
    """The WSGI application, called directly by schemathesis, inside the test's transaction.

    Django closes the database connection at the end of every request
    (``close_old_connections`` on ``request_started``/``request_finished``), which would close
    the test's transaction; Django's own test client disconnects it the same way.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from creditplatform.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_fuzz_every_operation(wsgi_in_test_transaction: Any) -> None:
    application = wsgi_in_test_transaction

    fuzz_seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**31))
    line = f"[fuzz] FUZZ_SEED={fuzz_seed} reproduces this run"
    print(line)
    sys.__stderr__.write(line + "\n")

    world = _world()
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, "the schema lost its operations"
    total = 0
    failures: list[str] = []
    for operation in operations:
        params = [p.name for p in operation.path_parameters]
        real = {name: world["ids"][name] for name in params if name in world["ids"]}
        headers = _headers_for(operation.path, world)
        strategies = [operation.as_strategy(headers=headers)]
        if real:
            strategies.append(operation.as_strategy(headers=headers, path_parameters=real))
        try:
            total += _fuzz(st.one_of(strategies), fuzz_seed)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect them all
            failures.append(f"{operation.method.upper()} {operation.path}:\n{exc}"[:4000])
    print(f"[fuzz] {total} generated cases over {len(operations)} operations")
    assert not failures, "\n\n".join(failures)
    assert total >= MIN_TOTAL_CASES, f"only {total} cases generated"
