"""PostgreSQL: the one controlled deletion of audit rows (retention, issue 7 item 5).

``audit_reject_mutation()`` still rejects every UPDATE and TRUNCATE, and every DELETE except a
row of ``compliance_auditevent`` or ``auditlog_logentry`` when all of these hold:

* the transaction set ``compliance.retention_prune = 'on'`` (``SET LOCAL``; only
  ``manage.py audit_retention`` does, running as the tables' owner: the application's role has
  no DELETE on these tables, ``create_app_db_role``);
* a seal of that table covers the row id (it is in the hash chain);
* an archive manifest (``compliance_auditarchive``, written first in the same transaction)
  covers the row id.

The archive table gets the append-only triggers too.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_reject_mutation() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW'
     AND TG_TABLE_NAME IN ('compliance_auditevent', 'auditlog_logentry')
     AND coalesce(current_setting('compliance.retention_prune', true), '') = 'on'
     AND EXISTS (SELECT 1 FROM compliance_auditseal s
                 WHERE s."table" = TG_TABLE_NAME AND OLD.id BETWEEN s.first_id AND s.last_id)
     AND EXISTS (SELECT 1 FROM compliance_auditarchive a
                 WHERE a."table" = TG_TABLE_NAME AND OLD.id BETWEEN a.first_id AND a.last_id)
  THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit rows are append-only: % on % rejected', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$ LANGUAGE plpgsql;
"""

ORIGINAL = r"""
CREATE OR REPLACE FUNCTION audit_reject_mutation() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit rows are append-only: % on % rejected', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$ LANGUAGE plpgsql;
"""

TABLE = "compliance_auditarchive"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION audit_reject_mutation()", params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_mutation()", params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}", params=None)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}", params=None)
    schema_editor.execute(ORIGINAL, params=None)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_audit_archive")]
    operations = [migrations.RunPython(forward, backward)]
