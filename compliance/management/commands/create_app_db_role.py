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
the table are revoked. ``--drop`` removes the role. See docs/compliance.md; the statements
(and the PostgreSQL documentation they follow) are :mod:`creditplatform.db_roles`'s.
"""

from __future__ import annotations

from typing import Any

from creditplatform.db_roles import LoginRoleCommand, TableGrant

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


class Command(LoginRoleCommand):
    help = "Create or update the application's DML-only PostgreSQL role (owns nothing)."
    role_example = "creditplatform_app"
    all_sequences = ("USAGE", "SELECT")

    def grants(self, cursor: Any) -> list[TableGrant]:
        """Every table of the schema: read-only, append-only or full DML (see the module)."""
        guarded = set(append_only_tables(cursor))
        grants = []
        for table in app_tables(cursor):
            if table in READ_ONLY_TABLES:
                privileges: tuple[str, ...] = ("SELECT",)
            elif table in guarded:
                privileges = APPEND_ONLY_PRIVILEGES
            else:
                privileges = TABLE_PRIVILEGES
            grants.append(TableGrant(table, privileges))
        return grants

    def report(self, role: str, database: str, grants: list[TableGrant]) -> None:
        """One summary line, then each append-only table (no UPDATE, no DELETE)."""
        guarded = sorted(g.table for g in grants if "UPDATE" not in g.privileges)
        self.stdout.write(self.style.SUCCESS(
            f"role {role}: LOGIN, DML on {len(grants)} tables of {database} "
            f"({len(guarded)} append-only: SELECT, INSERT)"))
        for table in guarded:
            self.stdout.write(f"  append-only {table}")
