"""Fixtures of the security tests.

The world (real objects made through the services) is built once per test module inside an
outer transaction; each test runs in pytest-django's own transaction, a savepoint inside it,
rolled back after the test. So every test sees exactly the same fresh objects and nothing a
test does (charges, refunds, issued cards, tokens) outlives it, at a fraction of the cost of
rebuilding the world per test (the matrix has ~150 cases).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from tests.security.harness import World, build_world


@pytest.fixture(scope="module")
def _module_world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        with transaction.atomic():
            world = build_world()
            yield world
            transaction.set_rollback(True)


@pytest.fixture
def world(_module_world: World, db: None) -> World:
    """The owner's account, card, charge (``entry``) and open authorization (``hold``); another
    customer with a card of their own; a support agent and a platform admin (staff, JWT)."""
    return _module_world
