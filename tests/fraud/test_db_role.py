"""The fraud worker's least-privilege PostgreSQL role (``manage.py create_fraud_db_role``).

Each test makes a role of its own with the command, connects as it and checks what PostgreSQL
refuses (SQLSTATE 42501, insufficient_privilege: checked before any trigger or constraint), then
drops it. The end-to-end tests point the ``fraud`` alias at the role and score real charges
through ``fraud.tasks.score_entry``. pg_hba here trusts 127.0.0.1, so the password is set but
not checked.
"""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import psycopg
import pytest
from auditlog.models import LogEntry
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, ProgrammingError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.connection import ConnectionDoesNotExist
from psycopg.errors import InsufficientPrivilege

from compliance.models import AuditEvent
from creditplatform.db_roles import TableGrant, reset_privileges
from creditplatform.db_routers import FraudWorkerRouter, fraud_worker_db, worker_db_alias
from fraud.management.commands.create_fraud_db_role import GRANTS
from fraud.models import Alert, FraudScore
from fraud.services import SCORED_ENTRY_FIELDS
from fraud.tasks import score_entry
from ledger import services as ledger
from ledger.models import JournalEntry
from ledger.signals import entry_recorded
from tests.factories import add_card

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Role:
    name: str
    password: str


@pytest.fixture
def fraud_role(transactional_db: None) -> Iterator[Role]:
    """A fresh role made by the command; revoked and dropped afterwards."""
    role = Role(f"fraud_test_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex)
    call_command("create_fraud_db_role", role=role.name, password=role.password,
                 stdout=StringIO())
    try:
        yield role
    finally:
        call_command("create_fraud_db_role", role=role.name, drop=True, stdout=StringIO())


@pytest.fixture
def as_role(fraud_role: Role) -> Iterator[psycopg.Connection]:
    """An autocommit psycopg connection to the test database as the role."""
    conn = psycopg.connect(dbname=connection.settings_dict["NAME"], host="127.0.0.1",
                           port=connection.settings_dict["PORT"] or 5432, user=fraud_role.name,
                           password=fraud_role.password, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def fraud_alias(fraud_role: Role) -> Iterator[str]:
    """``settings.FRAUD_WORKER_DB_ALIAS`` pointed at the role on the test database (what
    ``FRAUD_DATABASE_URL`` does in production), restored afterwards."""
    alias = settings.FRAUD_WORKER_DB_ALIAS
    databases = connections.settings
    previous = databases.get(alias)
    if previous is not None:  # FRAUD_DATABASE_URL set: the suite itself would not run as is
        pytest.skip("run the suite without FRAUD_DATABASE_URL")
    cfg = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    cfg.update(USER=fraud_role.name, PASSWORD=fraud_role.password, HOST="127.0.0.1")
    cfg["TEST"] = {**cfg["TEST"], "MIRROR": None}
    databases[alias] = cfg
    settings.DATABASES[alias] = cfg  # usually the same dict; the router reads this one
    # The test case admits lazy connections to "default" only: open this one now.
    connections[alias].connect()
    try:
        yield alias
    finally:
        _forget(alias)
        for mapping in (databases, settings.DATABASES):
            mapping.pop(alias, None)


def _forget(alias: str) -> None:
    with contextlib.suppress(ConnectionDoesNotExist, AttributeError):
        connections[alias].close()
        del connections[alias]


def _denied(conn: psycopg.Connection, statement: str, params: Any = None) -> None:
    with pytest.raises(InsufficientPrivilege):
        conn.execute(statement, params)


def _charge(user: Any, amount: int, **kw: Any) -> JournalEntry:
    acc = user.credit_accounts.get()
    return ledger.charge_create(actor=user, account_id=acc.pk, amount=amount, currency="EUR",
                                **kw).entry


def _columns(table: str) -> set[str]:
    with connection.cursor() as c:
        c.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                  "AND attnum > 0 AND NOT attisdropped", [table])
        return {r[0] for r in c.fetchall()}


@contextlib.contextmanager
def _unscored() -> Iterator[None]:
    """Charges committed in here are not queued for scoring (the receiver is disconnected)."""
    from fraud.receivers import on_entry_recorded

    entry_recorded.disconnect(dispatch_uid="fraud.on_entry_recorded")
    try:
        yield
    finally:
        entry_recorded.connect(on_entry_recorded, dispatch_uid="fraud.on_entry_recorded")


# -- what the role may not do ----------------------------------------------------------------


def test_role_cannot_read_the_encrypted_pan(customer: Any, as_role: psycopg.Connection) -> None:
    card = add_card(customer)
    for column in ("pan_encrypted", "pan_index", "bin", "last4"):
        _denied(as_role, f"SELECT {column} FROM accounts_card")
    _denied(as_role, "SELECT * FROM accounts_card")
    _denied(as_role, "SELECT id FROM accounts_card WHERE pan_index = %s", ["x"])
    # the same table's card state is readable: the grant is per column
    row = as_role.execute("SELECT id, account_id, status FROM accounts_card").fetchone()
    assert row == (card.pk, card.account_id, "active")
    _denied(as_role, "UPDATE accounts_card SET status = 'frozen'")


def test_role_cannot_write_the_ledger(customer: Any, as_role: psycopg.Connection) -> None:
    entry = _charge(customer, 1500)
    e = {"id": uuid.uuid4(), "account": entry.account_id, "now": timezone.now()}
    _denied(as_role,
            "INSERT INTO ledger_journalentry (id, kind, account_id, amount, currency, merchant, "
            "description, occurred_at, created_at, fraud_decision, fraud_reasons, actor_type, "
            "actor_id) VALUES (%(id)s, 'payment', %(account)s, 1, 'EUR', '', '', %(now)s, "
            "%(now)s, '', '[]', 'system', 'x')", e)
    _denied(as_role, "UPDATE ledger_journalentry SET amount = 1 WHERE id = %s", [entry.pk])
    _denied(as_role, "DELETE FROM ledger_journalentry WHERE id = %s", [entry.pk])
    _denied(as_role, "TRUNCATE ledger_journalentry")
    _denied(as_role, "INSERT INTO ledger_posting (entry_id, ledger_account_id, amount, currency)"
                     " VALUES (%s, 1, 1, 'EUR')", [entry.pk])
    _denied(as_role, "UPDATE ledger_posting SET amount = -amount")
    _denied(as_role, "DELETE FROM ledger_posting")
    _denied(as_role, "SELECT * FROM ledger_posting")
    _denied(as_role, "UPDATE accounts_creditaccount SET credit_limit = 10000000, posted = 0")
    _denied(as_role, "SELECT credit_limit FROM accounts_creditaccount")
    _denied(as_role, "UPDATE ledger_hold SET status = 'voided'")
    _denied(as_role, "DELETE FROM ledger_idempotencyrecord")
    # journal entry columns scoring does not read stay closed too
    _denied(as_role, "SELECT description FROM ledger_journalentry")
    _denied(as_role, "SELECT actor_id FROM ledger_journalentry")


def test_role_cannot_read_credentials_nor_tamper_with_audit_or_decisions(
    customer: Any, as_role: psycopg.Connection,
) -> None:
    entry = _charge(customer, 50_000)  # opens an alert (scored as the application here)
    assert Alert.objects.filter(entry=entry).exists()
    for statement in ("SELECT password FROM accounts_user", "SELECT * FROM accounts_apikey",
                      "SELECT * FROM token_blacklist_outstandingtoken",
                      "SELECT * FROM accounts_sealedtotpdevice", "SELECT * FROM django_session",
                      "SELECT response_body FROM ledger_idempotencyrecord",
                      "SELECT details FROM compliance_auditevent",
                      "SELECT changes FROM auditlog_logentry",
                      "UPDATE compliance_auditevent SET outcome = 'success'",
                      "DELETE FROM compliance_auditevent", "DELETE FROM auditlog_logentry",
                      "SELECT * FROM compliance_auditseal", "DELETE FROM compliance_auditseal",
                      "UPDATE fraud_alert SET status = 'false_positive', note = 'ok'",
                      "DELETE FROM fraud_alert", "DELETE FROM fraud_fraudscore",
                      "UPDATE fraud_fraudscore SET entry_id = entry_id",
                      "INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')",
                      "CREATE TABLE public.fraud_worker_scratch (id int)"):
        _denied(as_role, statement)
    attrs = as_role.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit, "
        "rolcanlogin, (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) "
        "FROM pg_roles r WHERE rolname = current_user").fetchone()
    assert attrs == (False, False, False, False, False, False, True, 0)


# -- what it may do --------------------------------------------------------------------------


def test_role_reads_exactly_the_granted_columns(customer: Any, as_role: psycopg.Connection) -> None:
    _charge(customer, 50_000)
    for grant in GRANTS:
        if grant.privilege != "SELECT":
            continue
        granted = grant.columns or tuple(sorted(_columns(grant.table)))
        as_role.execute(f"SELECT {', '.join(granted)} FROM {grant.table} LIMIT 1").fetchall()
        for other in sorted(_columns(grant.table) - set(granted)):
            _denied(as_role, f"SELECT {other} FROM {grant.table} LIMIT 1")


def test_journal_entry_grant_is_what_the_service_loads() -> None:
    granted = next(g.columns for g in GRANTS
                   if g.table == "ledger_journalentry" and g.privilege == "SELECT")
    loaded = {JournalEntry._meta.get_field(f).column for f in SCORED_ENTRY_FIELDS}
    assert loaded == set(granted)


def test_command_is_idempotent_and_takes_back_extra_grants(
    customer: Any, fraud_role: Role, as_role: psycopg.Connection,
) -> None:
    add_card(customer)

    def privileges() -> list[tuple[str, ...]]:
        with connection.cursor() as c:
            c.execute(
                "SELECT 'column', table_name, column_name, privilege_type "
                "FROM information_schema.column_privileges WHERE grantee = %(r)s UNION ALL "
                "SELECT 'table', table_name, '', privilege_type "
                "FROM information_schema.table_privileges WHERE grantee = %(r)s UNION ALL "
                "SELECT 'member', g.rolname, '', '' FROM pg_auth_members m "
                "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
                "WHERE u.rolname = %(r)s ORDER BY 1, 2, 3, 4", {"r": fraud_role.name})
            return c.fetchall()

    before = privileges()
    assert ("table", "fraud_alert", "", "INSERT") in before
    assert not [p for p in before if p[1] == "accounts_card" and p[2] == "pan_encrypted"]
    with connection.cursor() as c:  # someone grants more by hand ...
        c.execute(f'GRANT SELECT, UPDATE ON accounts_card, ledger_posting TO "{fraud_role.name}"')
        c.execute(f'GRANT pg_read_all_data TO "{fraud_role.name}"')
    assert as_role.execute("SELECT pan_encrypted FROM accounts_card").fetchone()
    call_command("create_fraud_db_role", role=fraud_role.name, password=fraud_role.password,
                 stdout=StringIO())  # ... running the command again takes it back
    assert privileges() == before
    _denied(as_role, "SELECT pan_encrypted FROM accounts_card")
    _denied(as_role, "SELECT * FROM ledger_posting")


def test_command_refuses_sqlite_superusers_and_bad_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(CommandError, match="invalid role name"):
        call_command("create_fraud_db_role", role='x"; DROP TABLE y; --', password="p")
    with pytest.raises(CommandError, match="refusing"):
        call_command("create_fraud_db_role", role=connection.settings_dict["USER"],
                     password="p")
    monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "vendor", "sqlite")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("create_fraud_db_role", role="fraud_worker", password="p")


def test_insert_on_a_serial_table_gets_its_sequence_and_drop_reports_absence(
    fraud_role: Role, as_role: psycopg.Connection,
) -> None:
    """A table migrated by an older Django has a ``serial`` id: INSERT needs USAGE on its
    sequence, which :func:`creditplatform.db_roles.reset_privileges` grants with the table."""
    with connection.cursor() as c:
        c.execute("CREATE TABLE fraud_test_serial (id serial PRIMARY KEY, v int)")
    try:
        for with_grant, grants in ((False, []),
                                   (True, [TableGrant("fraud_test_serial", ("INSERT",))])):
            with transaction.atomic(), connection.cursor() as c:
                reset_privileges(connection, c, fraud_role.name, grants)
                c.execute("SELECT has_sequence_privilege(%s, 'fraud_test_serial_id_seq', "
                          "'USAGE')", [fraud_role.name])
                assert c.fetchone() == (with_grant,)
        as_role.execute("INSERT INTO fraud_test_serial (v) VALUES (1)")
        _denied(as_role, "SELECT v FROM fraud_test_serial")
    finally:
        with connection.cursor() as c:
            c.execute("DROP TABLE fraud_test_serial")
    out = StringIO()
    call_command("create_fraud_db_role", role="fraud_test_absent", drop=True, stdout=out)
    assert out.getvalue().strip() == "role fraud_test_absent does not exist"


# -- the scoring task through the role ---------------------------------------------------------


def test_router_uses_the_fraud_alias_only_inside_the_worker_context(fraud_alias: str) -> None:
    router = FraudWorkerRouter()
    assert router.db_for_read(JournalEntry) is None and worker_db_alias() == DEFAULT_DB_ALIAS
    with fraud_worker_db() as alias:
        assert alias == fraud_alias == worker_db_alias()
        assert router.db_for_write(FraudScore) == fraud_alias
        assert router.db_for_read(JournalEntry) == fraud_alias
    assert router.db_for_write(FraudScore) is None
    assert router.allow_migrate(fraud_alias, "fraud") is False


def test_without_the_alias_the_worker_uses_default() -> None:
    if settings.FRAUD_WORKER_DB_ALIAS in settings.DATABASES:
        pytest.skip("FRAUD_DATABASE_URL is set")
    with fraud_worker_db() as alias:
        assert alias == DEFAULT_DB_ALIAS == worker_db_alias()
        assert FraudWorkerRouter().db_for_write(FraudScore) is None


def test_scoring_task_writes_score_alert_and_audit_through_the_role(
    customer: Any, fraud_role: Role, fraud_alias: str,
) -> None:
    card = add_card(customer)
    worker = connections[fraud_alias]
    with CaptureQueriesContext(worker) as as_worker, \
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as as_app:
        # committed charge -> on_commit -> eager Celery -> score_entry as the fraud worker
        entry = _charge(customer, 50_000, card_id=card.pk, merchant="shop-1")
    fs = FraudScore.objects.get(entry=entry)
    alert = Alert.objects.get(entry=entry)
    assert fs.score >= settings.FRAUD_ALERT_THRESHOLD and "large_amount" in alert.reasons
    assert (alert.account_id, alert.card_id, alert.status) == (entry.account_id, card.pk, "open")
    worker_sql = "\n".join(q["sql"] for q in as_worker.captured_queries)
    app_sql = "\n".join(q["sql"] for q in as_app.captured_queries)
    for table in ("fraud_fraudscore", "fraud_alert", "compliance_auditevent",
                  "auditlog_logentry"):
        assert f'INSERT INTO "{table}"' in worker_sql
    # nothing of the scoring ran with the application's rights
    for marker in ('INSERT INTO "fraud_fraudscore"', 'INSERT INTO "fraud_alert"',
                   "fraud.alert_opened"):
        assert marker not in app_sql
    with worker.cursor() as c:
        c.execute("SELECT current_user")
        assert c.fetchone() == (fraud_role.name,)
    assert AuditEvent.objects.filter(event_type="fraud.alert_opened",
                                     object_id=str(alert.pk)).count() == 1
    assert LogEntry.objects.get_for_object(alert).count() == 1

    # again through the role (SELECT ... FOR UPDATE of the existing score): nothing changes
    assert score_entry.apply(args=[str(entry.pk)], throw=True).result == fs.score
    assert FraudScore.objects.get(entry=entry).scored_at == fs.scored_at
    assert Alert.objects.filter(entry=entry).count() == 1

    # a confirmed fraud at the merchant: the next charge there reads alerts x entries as the role
    Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.CONFIRMED_FRAUD,
                                             decided_at=timezone.now())
    second = _charge(customer, 1_000, card_id=card.pk, merchant="shop-1")
    assert "merchant_confirmed_fraud" in FraudScore.objects.get(entry=second).reasons


def test_scoring_task_fails_closed_without_a_grant(
    customer: Any, fraud_role: Role, fraud_alias: str,
) -> None:
    with _unscored():
        entry = _charge(customer, 50_000)  # committed, not yet scored
    with connection.cursor() as c:
        c.execute(f'REVOKE INSERT ON compliance_auditevent FROM "{fraud_role.name}"')
    with pytest.raises(ProgrammingError, match="permission denied"):
        score_entry(str(entry.pk))  # the audit row goes through the role too
    assert not FraudScore.objects.filter(entry=entry).exists()  # rolled back on the alias
    assert not Alert.objects.filter(entry=entry).exists()
    call_command("create_fraud_db_role", role=fraud_role.name, password=fraud_role.password,
                 stdout=StringIO())
    assert score_entry(str(entry.pk)) >= settings.FRAUD_ALERT_THRESHOLD
    assert Alert.objects.filter(entry=entry).count() == 1


def test_direct_service_calls_outside_the_worker_use_default(
    customer: Any, fraud_alias: str,
) -> None:
    from fraud.services import entry_score

    with _unscored():
        entry = _charge(customer, 1500)
    with CaptureQueriesContext(connections[fraud_alias]) as as_worker:
        assert entry_score(entry_id=entry.pk) is not None
    assert not as_worker.captured_queries
