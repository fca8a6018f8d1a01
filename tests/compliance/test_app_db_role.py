"""The application's database role cannot change the audit trail or its guards (issue 7, item 3).

``manage.py create_app_db_role`` makes a non-owner LOGIN role with DML grants only. Connected
as that role: an AuditEvent can be inserted, but not updated, deleted or truncated, and the
append-only triggers can be neither disabled nor dropped (PostgreSQL reserves ALTER TABLE and
DROP TRIGGER to the table's owner), nor bypassed with ``session_replication_role`` (superuser
only) or the retention switch (no DELETE privilege at all). Errors are SQLSTATE 42501
(insufficient_privilege), checked before any trigger runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import errors

pytestmark = pytest.mark.django_db(transaction=True)

INSERT_EVENT = (
    "INSERT INTO compliance_auditevent (occurred_at, actor_type, actor_id, actor_label, "
    "event_type, outcome, user_agent, request_id, object_type, object_id, details) VALUES "
    "(now(), 'system', 'app', 'app', 'role.test', 'success', '', '', '', '', '{}') RETURNING id")


@pytest.fixture
def app_role(transactional_db: None) -> Iterator[tuple[str, str]]:
    role, password = f"app_test_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    out = StringIO()
    call_command("create_app_db_role", role=role, password=password, stdout=out)
    assert "append-only compliance_auditevent" in out.getvalue()
    try:
        yield role, password
    finally:
        call_command("create_app_db_role", role=role, drop=True, stdout=StringIO())


@pytest.fixture
def as_app(app_role: tuple[str, str]) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(dbname=connection.settings_dict["NAME"], host="127.0.0.1",
                           port=connection.settings_dict["PORT"] or 5432, user=app_role[0],
                           password=app_role[1], autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _refused(conn: psycopg.Connection, sql: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute(sql)


def test_app_role_inserts_events_but_cannot_change_them_or_their_triggers(as_app, customer):
    event_id = as_app.execute(INSERT_EVENT).fetchone()[0]
    assert as_app.execute("SELECT event_type FROM compliance_auditevent WHERE id = %s",
                          [event_id]).fetchone() == ("role.test",)
    for sql in (
        f"UPDATE compliance_auditevent SET outcome = 'failure' WHERE id = {event_id}",
        f"DELETE FROM compliance_auditevent WHERE id = {event_id}",
        "TRUNCATE compliance_auditevent",
        "TRUNCATE auditlog_logentry",
        "DELETE FROM auditlog_logentry",
        "UPDATE compliance_auditseal SET hash = hash",
        "UPDATE ledger_journalentry SET amount = amount",
        "DELETE FROM ledger_posting",
        "INSERT INTO compliance_auditarchive (\"table\", created_at, first_id, last_id, "
        "row_count, first_seal_id, last_seal_id, cutoff, file_name, file_sha256, signature) "
        "VALUES ('compliance_auditevent', now(), 0, 1000000, 0, 1, 1, now(), 'x', 'x', 'x')",
        "ALTER TABLE compliance_auditevent DISABLE TRIGGER compliance_auditevent_append_only",
        "ALTER TABLE compliance_auditevent DISABLE TRIGGER ALL",
        "DROP TRIGGER compliance_auditevent_append_only ON compliance_auditevent",
        "DROP TRIGGER ledger_journalentry_append_only ON ledger_journalentry",
        "DROP TABLE compliance_auditevent",
        "CREATE OR REPLACE FUNCTION audit_reject_mutation() RETURNS trigger AS "
        "$$ BEGIN RETURN OLD; END $$ LANGUAGE plpgsql",
        "SET session_replication_role = replica",
    ):
        _refused(as_app, sql)
    with as_app.transaction():  # the retention switch alone opens nothing: no DELETE grant
        as_app.execute("SET LOCAL compliance.retention_prune = 'on'")
        with pytest.raises(errors.InsufficientPrivilege):
            with as_app.transaction():
                as_app.execute(f"DELETE FROM compliance_auditevent WHERE id = {event_id}")
    # ... while ordinary DML on the app's mutable tables works (it is the app's role)
    assert as_app.execute("UPDATE accounts_creditaccount SET status = status").rowcount >= 1
    owner = as_app.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE r.rolname = current_user").fetchone()[0]
    assert owner == 0
    flags = as_app.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM "
                           "pg_roles WHERE rolname = current_user").fetchone()
    assert flags == (False, False, False, False)


def test_rerun_revokes_privileges_granted_by_hand(app_role, as_app):
    role, password = app_role
    with connection.cursor() as cur:
        cur.execute(f'GRANT UPDATE, TRUNCATE ON compliance_auditevent TO "{role}"')
    call_command("create_app_db_role", role=role, password=password, stdout=StringIO())
    _refused(as_app, "TRUNCATE compliance_auditevent")


def test_refuses_to_rewrite_the_owner_role():
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        me = cur.fetchone()[0]
    with pytest.raises(CommandError, match="refusing"):
        call_command("create_app_db_role", role=me, password="x", stdout=StringIO())
