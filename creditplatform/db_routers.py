"""Database routing: the fraud worker runs through its own least-privilege PostgreSQL role.

``settings.FRAUD_WORKER_DB_ALIAS`` (``"fraud"``) names a second alias configured from
``FRAUD_DATABASE_URL``: the same database, reached as the role made by
``manage.py create_fraud_db_role`` (SELECT of what scoring reads; INSERT of scores, alerts and
audit rows; nothing else). Code that runs *as the fraud worker* enters
:func:`fraud_worker_db`; inside it :class:`FraudWorkerRouter` sends every read and every write
(the service's own, ``compliance.audit.record`` and django-auditlog's log entries alike) to that
alias, and :func:`worker_db_alias` names it for ``transaction.atomic(using=...)`` and
``select_for_update``. Anything the role was not granted fails with "permission denied"
instead of quietly using the application's full rights.

When ``FRAUD_DATABASE_URL`` is unset (the embedded demo on SQLite, the test suite) the alias is
not defined, the router expresses no opinion and everything uses ``default`` as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

_as_fraud_worker: ContextVar[bool] = ContextVar("as_fraud_worker", default=False)


def fraud_alias() -> str | None:
    """The configured fraud worker alias, or None when ``FRAUD_DATABASE_URL`` is unset."""
    alias = getattr(settings, "FRAUD_WORKER_DB_ALIAS", "fraud")
    return alias if alias in settings.DATABASES else None


def worker_db_alias() -> str:
    """The alias the current code's queries go to: the fraud alias inside
    :func:`fraud_worker_db` when it is configured, ``default`` otherwise."""
    if _as_fraud_worker.get():
        return fraud_alias() or DEFAULT_DB_ALIAS
    return DEFAULT_DB_ALIAS


@contextmanager
def fraud_worker_db() -> Iterator[str]:
    """Run the enclosed code as the fraud worker; yields the alias its queries use."""
    token = _as_fraud_worker.set(True)
    try:
        yield worker_db_alias()
    finally:
        _as_fraud_worker.reset(token)


class FraudWorkerRouter:
    """Inside :func:`fraud_worker_db`, every model reads and writes through the fraud alias."""

    def _route(self) -> str | None:
        return fraud_alias() if _as_fraud_worker.get() else None

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return self._route()

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return self._route()

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # Both aliases are the same database: an entry loaded as the worker may be related to
        # an object loaded by the application, and the other way round.
        alias = fraud_alias()
        if alias and {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, alias}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        # The schema belongs to ``default``; the worker's role could not migrate it anyway.
        if db == getattr(settings, "FRAUD_WORKER_DB_ALIAS", "fraud"):
            return False
        return None
