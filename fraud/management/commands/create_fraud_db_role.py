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
here (libpq ``PQencryptPasswordConn``), never in clear text. The statements (and the PostgreSQL
documentation they follow) are :mod:`creditplatform.db_roles`'s, shared with
``create_app_db_role``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from creditplatform.db_roles import LoginRoleCommand, TableGrant


class Grant(NamedTuple):
    """One privilege of the fraud worker's role on one table (or some of its columns), and why."""

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


class Command(LoginRoleCommand):
    help = "Create or update the fraud worker's least-privilege PostgreSQL role (see GRANTS)."
    role_example = "fraud_worker"

    def grants(self, cursor: Any) -> list[TableGrant]:
        """:data:`GRANTS`, one privilege each."""
        return [TableGrant(g.table, (g.privilege,), g.columns) for g in GRANTS]

    def report(self, role: str, database: str, grants: list[TableGrant]) -> None:
        """One summary line, then each grant."""
        self.stdout.write(self.style.SUCCESS(f"role {role}: LOGIN, {len(GRANTS)} grants on "
                                             f"{database}"))
        for g in GRANTS:
            cols = "" if g.columns is None else f" ({', '.join(g.columns)})"
            self.stdout.write(f"  {g.privilege:<6} {g.table}{cols}")
