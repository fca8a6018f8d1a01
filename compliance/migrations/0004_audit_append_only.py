"""PostgreSQL: audit rows are append-only (security events, auditlog entries, seals).

UPDATE, DELETE and TRUNCATE are rejected by triggers. A database superuser can still disable
triggers; the hash chain (compliance/sealing.py, ``verify_audit``) detects what they change.
"""

from django.db import migrations

TABLES = ["compliance_auditevent", "auditlog_logentry", "compliance_auditseal"]

FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_reject_mutation() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit rows are append-only: % on % rejected', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_reject_mutation()", params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_mutation()", params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                              params=None)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                              params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS audit_reject_mutation()", params=None)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_audit_seal"), ("auditlog", "0017_add_actor_email")]
    operations = [migrations.RunPython(forward, backward)]
