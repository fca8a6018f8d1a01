"""Create or update the fraud worker's least-privilege PostgreSQL role.

``manage.py create_fraud_db_role --role fraud_worker --password-env FRAUD_DB_PASSWORD``
(or ``--password PW``) makes a LOGIN role that holds exactly the privileges in :data:`GRANTS`
on the tables of this database, and nothing else: every other table-, column-, sequence- and
schema-privilege of the role here is revoked and its role memberships are removed, so running
the command again (after a migration, or after someone granted more by hand) brings the role
back to the table. The worker then connects as it through ``FRAUD_DATABASE_URL``
(``creditplatform/db_routers.py``). ``--drop`` removes the role.

Run it as the database owner or a superuser (the application's migration role). PostgreSQL
only: SQLite has no roles. The password reaches the server as a SCRAM-SHA-256 verifier computed
here (libpq ``PQencryptPasswordConn``), never in clear text.
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction


class Grant(NamedTuple):
    table: str
    privilege: str  # SELECT, INSERT or UPDATE
    columns: tuple[str, ...] | None  # None: the whole table
    why: str


# Everything the fraud worker's role may do, in one place. The scoring task
# (fraud.tasks.score_entry -> fraud.services.entry_score -> fraud.model.score) needs exactly this;
# tests/fraud/test_db_role.py runs it through the role. Not here, so denied: the card vault's
# PAN (accounts_card.pan_encrypted, pan_index, bin, last4), every write to the ledger
# (ledger_journalentry, ledger_posting, ledger_hold, ledger_ledgeraccount), credit accounts,
# users and credentials, idempotency records, reading or changing audit rows, and changing an
# alert once opened (status, decision and note are the support agent's).
GRANTS: tuple[Grant, ...] = (
    Grant("ledger_journalentry", "SELECT",
          ("id", "kind", "account_id", "card_id", "amount", "currency", "merchant",
           "occurred_at", "created_at", "fraud_decision"),
          "the scored entry and the customer's history (fraud.services.SCORED_ENTRY_FIELDS)"),
    Grant("accounts_card", "SELECT", ("id", "account_id", "status"),
          "card state only (frozen card); never the PAN, its blind index, bin or last4"),
    Grant("fraud_fraudscore", "SELECT", None, "the existing score (scoring twice changes nothing)"),
    Grant("fraud_fraudscore", "INSERT", None, "write the score"),
    Grant("fraud_fraudscore", "UPDATE", ("score", "reasons", "model_version", "scored_at",
                                         "latency_ms"),
          "SELECT ... FOR UPDATE of the score row needs UPDATE; a rescore may rewrite it"),
    Grant("fraud_alert", "SELECT", None,
          "the entry's alert (get_or_create); confirmed-fraud merchants (fraud.model)"),
    Grant("fraud_alert", "INSERT", None, "open an alert above FRAUD_ALERT_THRESHOLD"),
    Grant("fraud_ruleset", "SELECT", None,
          "the approved thresholds in force (fraud.rules.active_rules, on a cache miss)"),
    Grant("fraud_featureentitystate", "SELECT", None, "the live feature store (feature_store)"),
    Grant("fraud_featureentitystate", "INSERT", None, "a new account's / merchant's state"),
    Grant("fraud_featureentitystate", "UPDATE", ("state", "clock"),
          "SELECT ... FOR UPDATE of the states; the state moves past the scored entry"),
    Grant("fraud_featuresnapshot", "SELECT", None, "an entry's features (scoring twice)"),
    Grant("fraud_featuresnapshot", "INSERT", None, "the features the entry was scored with"),
    Grant("fraud_fraudlabel", "SELECT", ("entry_id", "is_fraud", "known_at"),
          "fed-back labels of the transactions still waiting for one (fraud.feature_store)"),
    Grant("compliance_auditevent", "INSERT", None, "audit.record('fraud.alert_opened')"),
    Grant("compliance_auditevent", "SELECT", ("id",), "INSERT ... RETURNING id (no audit reads)"),
    Grant("auditlog_logentry", "INSERT", None, "django-auditlog's log entry of the new alert"),
    Grant("auditlog_logentry", "SELECT", ("id",), "INSERT ... RETURNING id (no log reads)"),
    Grant("django_content_type", "SELECT", ("id", "app_label", "model"),
          "django-auditlog's content type of Alert"),
)
# Besides: CONNECT on this database, USAGE on its schema, and USAGE on the ``id`` sequence of a
# table it INSERTs into when that column is a serial (identity columns, which Django >= 4.1
# creates, need no sequence privilege; a database migrated by an older Django may have serials).

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _sql() -> Any:
    from psycopg import sql  # PostgreSQL only; imported late so SQLite needs no psycopg

    return sql


class Command(BaseCommand):
    help = "Create or update the fraud worker's least-privilege PostgreSQL role (see GRANTS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, help="role name, e.g. fraud_worker")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--password", help="the role's password (visible in `ps`: prefer "
                                               "--password-env)")
        secret.add_argument("--password-env", metavar="VAR",
                            help="read the password from environment variable VAR")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS,
                            help="alias to run as (owner of the tables); default: default")
        parser.add_argument("--drop", action="store_true",
                            help="revoke everything and drop the role instead")

    def handle(self, *args: Any, **opts: Any) -> None:
        connection = connections[opts["database"]]
        if connection.vendor != "postgresql":
            raise CommandError(
                f"create_fraud_db_role needs PostgreSQL; database {opts['database']!r} is "
                f"{connection.vendor} (the embedded demo has no database roles)."
            )
        role = opts["role"]
        if not _ROLE_NAME.match(role) or role.startswith("pg_"):
            raise CommandError(f"invalid role name {role!r}: use [a-z_][a-z0-9_]*, "
                               "not starting with pg_")
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            self._refuse_privileged(cursor, role)
            if opts["drop"]:
                self._drop(cursor, role)
                return
            password = self._password(opts)
            self._check_schema(cursor)
            self._create_or_update(connection, cursor, role, password)
        self.stdout.write(self.style.SUCCESS(
            f"role {role}: LOGIN, {len(GRANTS)} grants on {connection.settings_dict['NAME']}"))
        for g in GRANTS:
            cols = "" if g.columns is None else f" ({', '.join(g.columns)})"
            self.stdout.write(f"  {g.privilege:<6} {g.table}{cols}")

    # -- checks --------------------------------------------------------------------------------

    @staticmethod
    def _password(opts: dict[str, Any]) -> str:
        if opts["password_env"]:
            password = os.environ.get(opts["password_env"], "")
            if not password:
                raise CommandError(f"environment variable {opts['password_env']} is empty")
            return password
        if not opts["password"]:
            raise CommandError("give --password or --password-env")
        return opts["password"]

    @staticmethod
    def _refuse_privileged(cursor: Any, role: str) -> None:
        """Never rewrite the role we run as, a superuser, or a role that owns tables here."""
        cursor.execute(
            "SELECT r.rolsuper OR r.rolcreaterole OR r.rolname = current_user "
            "  OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid) "
            "  OR EXISTS (SELECT 1 FROM pg_database d WHERE d.datdba = r.oid) "
            "FROM pg_roles r WHERE r.rolname = %s", [role])
        row = cursor.fetchone()
        if row and row[0]:
            raise CommandError(f"refusing to change role {role!r}: it is the current user, a "
                               "superuser, may create roles, or owns objects")

    @staticmethod
    def _check_schema(cursor: Any) -> None:
        missing = []
        for g in GRANTS:
            cursor.execute(
                "SELECT a.attname FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
                [g.table])
            present = {r[0] for r in cursor.fetchall()}
            if not present:
                missing.append(g.table)
            else:
                missing += [f"{g.table}.{c}" for c in g.columns or () if c not in present]
        if missing:
            raise CommandError("not in this database (run migrate first?): " + ", ".join(missing))

    # -- changes -------------------------------------------------------------------------------

    def _create_or_update(self, connection: Any, cursor: Any, role: str, password: str) -> None:
        sql = _sql()
        ident = sql.Identifier(role)
        raw = connection.connection  # the psycopg connection, in the same transaction
        verifier = raw.pgconn.encrypt_password(password.encode(), role.encode(),
                                               b"scram-sha-256").decode()
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        with raw.cursor() as rc:  # not Django's cursor: the verifier stays out of query logs
            rc.execute(sql.SQL(
                "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                "NOREPLICATION NOBYPASSRLS PASSWORD {}"
            ).format(sql.SQL(verb), ident, sql.Literal(verifier)))

        statements = []
        # Memberships would lend the role other roles' privileges: none.
        cursor.execute("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = "
                       "m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                       [role])
        for (group,) in cursor.fetchall():
            statements.append(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), ident))
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = cursor.fetchone()
        db, sch = sql.Identifier(database), sql.Identifier(schema)
        # Start from nothing (REVOKE on a table revokes its column privileges too) ...
        statements += [
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, ident),
            sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(sch, ident),
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sch, ident),
            sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(sch, ident),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, ident),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sch, ident),
        ]
        # ... then exactly GRANTS.
        for g in GRANTS:
            cols = sql.SQL("") if g.columns is None else sql.SQL(" ({})").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in g.columns))
            statements.append(sql.SQL("GRANT {}{} ON TABLE {} TO {}").format(
                sql.SQL(g.privilege), cols, sql.Identifier(schema, g.table), ident))
        for table in sorted({g.table for g in GRANTS if g.privilege == "INSERT"}):
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, a.attname) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(%s) AND a.attname = 'id' AND a.attidentity = ''",
                [table, table])
            row = cursor.fetchone()
            if row and row[0]:
                statements.append(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                    sql.SQL(row[0]), ident))  # pg_get_serial_sequence quotes it already
        for statement in statements:
            cursor.execute(statement.as_string(raw))

    def _drop(self, cursor: Any, role: str) -> None:
        sql = _sql()
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if not cursor.fetchone():
            self.stdout.write(f"role {role} does not exist")
            return
        raw = cursor.db.connection
        ident = sql.Identifier(role)
        # DROP OWNED revokes the role's privileges in this database and on shared objects.
        cursor.execute(sql.SQL("DROP OWNED BY {}").format(ident).as_string(raw))
        try:
            with transaction.atomic(using=cursor.db.alias):
                cursor.execute(sql.SQL("DROP ROLE {}").format(ident).as_string(raw))
        except Exception as exc:  # privileges left in another database
            raise CommandError(f"could not drop role {role}: {exc}. Run --drop against every "
                               "database it has privileges in.") from exc
        self.stdout.write(self.style.SUCCESS(f"role {role} dropped"))
