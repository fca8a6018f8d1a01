"""PostgreSQL: billing statements are append-only, as journal entries are (a statement is a
record sent to the cardholder; a correction is an adjustment in a later cycle). Reuses
``ledger_reject_mutation()`` from 0002. SQLite (the embedded demo) has no trigger.
"""

from django.db import migrations

FORWARD = r"""
CREATE TRIGGER ledger_billingstatement_append_only
  BEFORE UPDATE OR DELETE ON ledger_billingstatement
  FOR EACH ROW EXECUTE FUNCTION ledger_reject_mutation();
CREATE TRIGGER ledger_billingstatement_no_truncate BEFORE TRUNCATE ON ledger_billingstatement
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_mutation();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS ledger_billingstatement_no_truncate ON ledger_billingstatement;
DROP TRIGGER IF EXISTS ledger_billingstatement_append_only ON ledger_billingstatement;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_billing_statements")]
    operations = [migrations.RunPython(forward, backward)]
