"""Create or update the application's PostgreSQL login role: DML only, never an owner.

``manage.py create_app_db_role --role creditplatform_app --password-env APP_DB_PASSWORD``
makes a LOGIN role (no superuser, no CREATEDB/CREATEROLE, no BYPASSRLS, no memberships) that
holds only data privileges on this database's tables (issue 7, item 3):

* ``compliance_auditarchive`` (the manifests that unlock retention's deletion): ``SELECT``;
* append-only tables (every table with a ``*_reject_mutation`` trigger: audit events, auditlog
  entries, seals, archive manifests, journal entries, postings): ``SELECT, INSERT``;
* every other table: ``SELECT, INSERT, UPDATE, DELETE``;
* sequences: ``USAGE, SELECT``; the database: ``CONNECT``; the schema: ``USAGE`` (no CREATE).

It owns nothing, so it cannot ``ALTER TABLE ... DISABLE TRIGGER``, ``DROP TRIGGER``, drop or
alter a table (PostgreSQL reserves those to the owner), and it has no ``TRUNCATE``,
``TRIGGER`` or ``REFERENCES`` privilege. Migrations, ``audit_retention`` (the one controlled
deletion of sealed, archived audit rows) and this command run as the owner (the migration
role); the web processes and workers connect as this role (``DATABASE_URL``). Run the command
again after each migration: new tables get their grants, and privileges granted by hand beyond
the table are revoked. ``--drop`` removes the role. See docs/compliance.md.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY_PRIVILEGES = ("SELECT", "INSERT")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: Tables only the owner writes: the archive manifests that unlock retention's deletion.
READ_ONLY_TABLES = {"compliance_auditarchive"}


def append_only_tables(cursor: Any) -> list[str]:
    """Tables of the current schema guarded by a ``*_reject_mutation()`` trigger."""
    cursor.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND p.proname LIKE '%%reject_mutation' "
        "AND n.nspname = current_schema() ORDER BY 1")
    return [r[0] for r in cursor.fetchall()]


def app_tables(cursor: Any) -> list[str]:
    """Ordinary tables of the current schema."""
    cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname = "
                   "current_schema() ORDER BY 1")
    return [r[0] for r in cursor.fetchall()]


class Command(BaseCommand):
    help = "Create or update the application's DML-only PostgreSQL role (owns nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, help="role name, e.g. creditplatform_app")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--password", help="the role's password (visible in `ps`: prefer "
                                               "--password-env)")
        secret.add_argument("--password-env", metavar="VAR",
                            help="read the password from environment variable VAR")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS,
                            help="alias to run as (owner of the tables); default: default")
        parser.add_argument("--drop", action="store_true", help="revoke everything and drop it")

    def handle(self, *args: Any, **opts: Any) -> None:
        from psycopg import sql

        connection = connections[opts["database"]]
        if connection.vendor != "postgresql":
            raise CommandError("create_app_db_role needs PostgreSQL (the embedded demo has no "
                               "database roles).")
        role = opts["role"]
        if not _ROLE_NAME.match(role) or role.startswith("pg_"):
            raise CommandError(f"invalid role name {role!r}")
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.rolsuper OR r.rolcreaterole OR r.rolname = current_user "
                "  OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid) "
                "  OR EXISTS (SELECT 1 FROM pg_database d WHERE d.datdba = r.oid) "
                "FROM pg_roles r WHERE r.rolname = %s", [role])
            row = cursor.fetchone()
            if row and row[0]:
                raise CommandError(f"refusing to change role {role!r}: it is the current user, "
                                   "a superuser, may create roles, or owns objects")
            raw = connection.connection
            ident = sql.Identifier(role)
            if opts["drop"]:
                cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
                if cursor.fetchone():
                    cursor.execute(sql.SQL("DROP OWNED BY {}").format(ident).as_string(raw))
                    cursor.execute(sql.SQL("DROP ROLE {}").format(ident).as_string(raw))
                self.stdout.write(self.style.SUCCESS(f"role {role} dropped"))
                return
            password = self._password(opts)
            verifier = raw.pgconn.encrypt_password(password.encode(), role.encode(),
                                                   b"scram-sha-256").decode()
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            with raw.cursor() as rc:  # the verifier stays out of Django's query log
                rc.execute(sql.SQL(
                    "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                    "NOREPLICATION NOBYPASSRLS PASSWORD {}"
                ).format(sql.SQL(verb), ident, sql.Literal(verifier)))
            cursor.execute("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = "
                           "m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                           [role])
            statements = [sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(g), ident)
                          for (g,) in cursor.fetchall()]
            cursor.execute("SELECT current_database(), current_schema()")
            database, schema = cursor.fetchone()
            db, sch = sql.Identifier(database), sql.Identifier(schema)
            statements += [
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(db, ident),
                sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(sch, ident),
                sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sch, ident),
                sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(sch, ident),
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, ident),
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sch, ident),
                sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                    sch, ident),
            ]
            guarded = set(append_only_tables(cursor))
            tables = app_tables(cursor)
            for table in tables:
                if table in READ_ONLY_TABLES:
                    privs: tuple[str, ...] = ("SELECT",)
                elif table in guarded:
                    privs = APPEND_ONLY_PRIVILEGES
                else:
                    privs = TABLE_PRIVILEGES
                statements.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in privs),
                    sql.Identifier(schema, table), ident))
            for statement in statements:
                cursor.execute(statement.as_string(raw))
        self.stdout.write(self.style.SUCCESS(
            f"role {role}: LOGIN, DML on {len(tables)} tables of {database} "
            f"({len(guarded)} append-only: SELECT, INSERT)"))
        for table in sorted(guarded):
            self.stdout.write(f"  append-only {table}")

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
