"""PostgreSQL login roles that hold exactly a table of privileges, and nothing else.

One piece of code behind the commands that make the platform's least-privilege database roles:
``create_app_db_role`` (compliance: the web processes' and workers' DML-only role) and
``create_fraud_db_role`` (fraud: the scoring worker's column-level read role). Each command is a
:class:`LoginRoleCommand` that says which :class:`TableGrant` rows its role gets; this module
creates or alters the role, takes back everything else and grants exactly those rows, or drops
the role. Running a command again brings its role back to the table (after a migration, or
after someone granted more by hand).

What it does, and the PostgreSQL documentation (current version) each step follows:

* ``CREATE ROLE`` / ``ALTER ROLE ... WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT
  NOREPLICATION NOBYPASSRLS PASSWORD '<verifier>'`` (sql-createrole.html, sql-alterrole.html).
  The password reaches the server only as a SCRAM-SHA-256 verifier computed client-side by
  libpq's ``PQencryptPasswordConn`` (libpq-misc.html; auth-password.html), sent on a raw
  psycopg cursor so that it stays out of Django's query log.
* ``REVOKE <group> FROM <role>`` for each membership (sql-revoke.html: memberships would lend the
  role other roles' privileges), then ``REVOKE ALL`` on the database, the schema, all its
  tables and all its sequences (sql-revoke.html: revoking a table privilege revokes the
  corresponding column privileges too).
* ``GRANT CONNECT ON DATABASE``, ``GRANT USAGE ON SCHEMA`` (no ``CREATE``), one
  ``GRANT <privileges> [(<columns>)] ON TABLE`` per :class:`TableGrant` (sql-grant.html,
  column privileges), and ``GRANT USAGE ON SEQUENCE`` of the ``id`` sequence of each table the
  role may ``INSERT`` into when that column is a ``serial`` (functions-info.html,
  ``pg_get_serial_sequence``; identity columns, which Django >= 4.1 creates, need none).
* ``DROP OWNED BY`` then ``DROP ROLE`` (sql-drop-owned.html, sql-droprole.html) for ``--drop``.

The roles never own anything, so they cannot ``ALTER``/``DROP`` a table or its triggers
(ddl-priv.html: those are the owner's). The command refuses to touch the role it runs as, a
superuser, a role that may create roles, or one that owns tables or databases. PostgreSQL only:
the embedded SQLite demo has no roles.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

#: A role name this module accepts: PostgreSQL's unquoted identifier, 63 bytes at most
#: (sql-syntax-lexical.html), lower case; ``pg_`` is reserved for system roles.
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class TableGrant(NamedTuple):
    """Privileges on one table of the current schema: ``GRANT <privileges> [(<columns>)]``.

    ``privileges``: e.g. ``("SELECT", "INSERT")``; ``columns``: ``None`` for the whole table,
    otherwise the columns the privileges are limited to.
    """

    table: str
    privileges: tuple[str, ...]
    columns: tuple[str, ...] | None = None


def _sql() -> Any:
    from psycopg import sql  # PostgreSQL only; imported late so SQLite needs no psycopg

    return sql


def check_role_name(role: str) -> None:
    """Raise ``CommandError`` unless ``role`` matches :data:`ROLE_NAME` and is not ``pg_*``."""
    if not ROLE_NAME.match(role) or role.startswith("pg_"):
        raise CommandError(f"invalid role name {role!r}: use [a-z_][a-z0-9_]*, "
                           "not starting with pg_")


def password_from(opts: dict[str, Any]) -> str:
    """The password of ``--password-env VAR`` (``$VAR``) or ``--password``.

    Raises ``CommandError`` when neither is given or the variable is empty.
    """
    if opts.get("password_env"):
        password = os.environ.get(opts["password_env"], "")
        if not password:
            raise CommandError(f"environment variable {opts['password_env']} is empty")
        return password
    if not opts.get("password"):
        raise CommandError("give --password or --password-env")
    return str(opts["password"])


def refuse_privileged(cursor: Any, role: str) -> None:
    """Raise ``CommandError`` if ``role`` is the current user, a superuser, may create roles,
    or owns a relation or a database: this module never rewrites such a role."""
    cursor.execute(
        "SELECT r.rolsuper OR r.rolcreaterole OR r.rolname = current_user "
        "  OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relowner = r.oid) "
        "  OR EXISTS (SELECT 1 FROM pg_database d WHERE d.datdba = r.oid) "
        "FROM pg_roles r WHERE r.rolname = %s", [role])
    row = cursor.fetchone()
    if row and row[0]:
        raise CommandError(f"refusing to change role {role!r}: it is the current user, a "
                           "superuser, may create roles, or owns objects")


def missing_from_schema(cursor: Any, grants: Iterable[TableGrant]) -> list[str]:
    """The tables (``table``) and columns (``table.column``) of ``grants`` not in the database."""
    missing: list[str] = []
    for g in grants:
        cursor.execute(
            "SELECT a.attname FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
            [g.table])
        present = {r[0] for r in cursor.fetchall()}
        if not present:
            missing.append(g.table)
        else:
            missing += [f"{g.table}.{c}" for c in g.columns or () if c not in present]
    return list(dict.fromkeys(missing))


def create_or_alter_login_role(connection: Any, cursor: Any, role: str, password: str) -> None:
    """``CREATE ROLE`` (or ``ALTER ROLE`` if it exists) ``role`` as an unprivileged LOGIN role
    whose password is ``password``, sent as a SCRAM-SHA-256 verifier."""
    sql = _sql()
    raw = connection.connection  # the psycopg connection, in the same transaction
    verifier = raw.pgconn.encrypt_password(password.encode(), role.encode(),
                                           b"scram-sha-256").decode()
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    verb = "ALTER" if cursor.fetchone() else "CREATE"
    with raw.cursor() as rc:  # not Django's cursor: the verifier stays out of query logs
        rc.execute(sql.SQL(
            "{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
            "NOREPLICATION NOBYPASSRLS PASSWORD {}"
        ).format(sql.SQL(verb), sql.Identifier(role), sql.Literal(verifier)))


def reset_privileges(connection: Any, cursor: Any, role: str, grants: Iterable[TableGrant],
                     *, all_sequences: Sequence[str] = ()) -> str:
    """Take back every privilege and membership ``role`` holds here; grant exactly ``grants``.

    Besides ``grants``: ``CONNECT`` on the database, ``USAGE`` on the current schema, ``USAGE``
    on the serial ``id`` sequence of each table granted ``INSERT``, and ``all_sequences`` (e.g.
    ``("USAGE", "SELECT")``) on every sequence of the schema. Returns the database's name.
    """
    sql = _sql()
    raw = connection.connection
    ident = sql.Identifier(role)
    grants = list(grants)
    cursor.execute("SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = "
                   "m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s", [role])
    statements = [sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), ident)
                  for (group,) in cursor.fetchall()]
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
    if all_sequences:
        statements.append(sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in all_sequences), sch, ident))
    # ... then exactly the grants.
    for g in grants:
        cols = sql.SQL("") if g.columns is None else sql.SQL(" ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in g.columns))
        statements.append(sql.SQL("GRANT {}{} ON TABLE {} TO {}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in g.privileges), cols,
            sql.Identifier(schema, g.table), ident))
    inserted = sorted({g.table for g in grants if "INSERT" in g.privileges})
    cursor.execute(
        "SELECT pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) "
        "FROM pg_attribute a WHERE a.attname = 'id' AND a.attidentity = '' "
        "AND a.attrelid IN (SELECT to_regclass(t)::oid FROM unnest(%s::text[]) AS t)",
        [inserted])
    for (sequence,) in cursor.fetchall():
        if sequence:  # pg_get_serial_sequence quotes it already
            statements.append(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                sql.SQL(sequence), ident))
    for statement in statements:
        cursor.execute(statement.as_string(raw))
    return str(database)


def drop_role(cursor: Any, role: str) -> bool:
    """``DROP OWNED BY`` and ``DROP ROLE`` ``role``; ``False`` if it did not exist.

    Raises ``CommandError`` when the role still holds privileges in another database (``DROP
    OWNED`` acts on the current database and shared objects only).
    """
    sql = _sql()
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if not cursor.fetchone():
        return False
    raw = cursor.db.connection
    ident = sql.Identifier(role)
    cursor.execute(sql.SQL("DROP OWNED BY {}").format(ident).as_string(raw))
    try:
        with transaction.atomic(using=cursor.db.alias):
            cursor.execute(sql.SQL("DROP ROLE {}").format(ident).as_string(raw))
    except Exception as exc:  # privileges left in another database
        raise CommandError(f"could not drop role {role}: {exc}. Run --drop against every "
                           "database it has privileges in.") from exc
    return True


class LoginRoleCommand(BaseCommand):
    """A management command that creates, updates (``--role``, ``--password[-env]``) or drops
    (``--drop``) one least-privilege login role holding exactly :meth:`grants`.

    Subclasses set ``role_example`` (for ``--help``) and ``all_sequences`` (privileges on every
    sequence of the schema, default none) and implement :meth:`grants` and :meth:`report`.
    Errors (not PostgreSQL, a bad name, a privileged role, no password, a table or column of
    the grants missing) raise ``CommandError``; nothing is changed then.
    """

    role_example = "app_role"
    all_sequences: tuple[str, ...] = ()

    @property
    def command_name(self) -> str:
        """The command's name: its module's (``create_app_db_role``)."""
        return type(self).__module__.rsplit(".", 1)[-1]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True,
                            help=f"role name, e.g. {self.role_example}")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--password", help="the role's password (visible in `ps`: prefer "
                                               "--password-env)")
        secret.add_argument("--password-env", metavar="VAR",
                            help="read the password from environment variable VAR")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS,
                            help="alias to run as (owner of the tables); default: default")
        parser.add_argument("--drop", action="store_true",
                            help="revoke everything and drop the role instead")

    def grants(self, cursor: Any) -> list[TableGrant]:
        """What the role may do, read (if need be) through ``cursor`` as the owner."""
        raise NotImplementedError

    def report(self, role: str, database: str, grants: list[TableGrant]) -> None:
        """Write what the role now holds to ``self.stdout``."""
        raise NotImplementedError

    def handle(self, *args: Any, **opts: Any) -> None:
        connection = connections[opts["database"]]
        if connection.vendor != "postgresql":
            raise CommandError(
                f"{self.command_name} needs PostgreSQL; database {opts['database']!r} is "
                f"{connection.vendor} (the embedded demo has no database roles).")
        role = opts["role"]
        check_role_name(role)
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            refuse_privileged(cursor, role)
            if opts["drop"]:
                if drop_role(cursor, role):
                    self.stdout.write(self.style.SUCCESS(f"role {role} dropped"))
                else:
                    self.stdout.write(f"role {role} does not exist")
                return
            password = password_from(opts)
            grants = self.grants(cursor)
            missing = missing_from_schema(cursor, grants)
            if missing:
                raise CommandError("not in this database (run migrate first?): "
                                   + ", ".join(missing))
            create_or_alter_login_role(connection, cursor, role, password)
            database = reset_privileges(connection, cursor, role, grants,
                                        all_sequences=self.all_sequences)
        self.report(role, database, grants)
