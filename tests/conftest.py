"""Shared fixtures. The suite runs against the real PostgreSQL and Redis (``make test``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import CustomerFactory

# Fixtures of real processes (gunicorn, Celery workers, a RabbitMQ vhost): e2e/ and faults/.
pytest_plugins = ["tests.support.processes"]


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "The suite runs against PostgreSQL and Redis: use `make test` "
            "(or set DATABASE_URL=postgres://... and REDIS_URL=redis://...)."
        )
    _allow_test_flush()
    # one cache namespace per test run: concurrent runs on one Redis never see each other
    cache_conf = settings.CACHES["default"]
    cache_conf["KEY_PREFIX"] = f"{cache_conf.get('KEY_PREFIX', '')}-run{os.getpid()}"


def _allow_test_flush() -> None:
    """Let the test runner TRUNCATE the append-only ledger tables between transactional tests.

    The ledger's triggers reject TRUNCATE; the runner's flush alone runs with
    ``session_replication_role = replica`` (superuser only, which the application's database
    role never is). Tests of the triggers themselves run outside the flush.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    if getattr(original, "_allows_ledger", False):
        return

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements = original(self, style, tables, **kwargs)
        if not statements:
            return statements
        return ["SET session_replication_role = replica", *statements,
                "SET session_replication_role = origin"]

    sql_flush._allows_ledger = True  # type: ignore[attr-defined]
    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Each test starts with no cached keys of this checkout (no stale idempotent replays).

    Only this checkout's prefix is deleted: other clones on the machine share the Redis db.
    """
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()
    yield


@pytest.fixture
def customer() -> Any:
    """A cardholder with one EUR account of 1,000.00 (100,000 minor units)."""
    return CustomerFactory()


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """``api(user)`` -> an APIClient authenticated with a real JWT for ``user``."""

    def make(user: Any = None) -> APIClient:
        client = APIClient()
        if user is not None:
            from rest_framework_simplejwt.tokens import RefreshToken

            token = RefreshToken.for_user(user)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.access_token}")
        return client

    return make


@pytest.fixture
def idem() -> Callable[[], dict[str, str]]:
    """``idem()`` -> headers with a fresh Idempotency-Key."""
    return lambda: {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
