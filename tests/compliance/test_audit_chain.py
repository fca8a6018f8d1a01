"""Tamper evidence: triggers refuse changes; a superuser who bypasses them is detected."""

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.test import override_settings

from compliance import audit, sealing
from compliance.audit import SystemActor
from compliance.models import AuditEvent, AuditSeal

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = SystemActor("tests")


def _events(n):
    for i in range(n):
        with transaction.atomic():
            audit.record("test.event", actor=ACTOR, details={"i": i})
    return list(AuditEvent.objects.order_by("id").values_list("id", flat=True))


def _as_superuser(sql, params=()):
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # triggers off
        cur.execute(sql, params)


@override_settings(AUDIT_SEAL_DELAY_SECONDS=0)
def test_tampering_as_superuser_is_detected_and_named(customer):
    ids = _events(6)
    assert sealing.seal_all() >= 1
    assert sealing.verify_chain() == []
    modified, deleted = ids[1], ids[3]
    _as_superuser("UPDATE compliance_auditevent SET outcome = 'failure' WHERE id = %s",
                  [modified])
    _as_superuser("DELETE FROM compliance_auditevent WHERE id = %s", [deleted])
    _as_superuser(
        "INSERT INTO compliance_auditevent (id, occurred_at, actor_type, actor_id, actor_label,"
        " event_type, outcome, user_agent, request_id, object_type, object_id, details)"
        " VALUES (%s, now(), 'system', 'x', 'x', 'forged', 'success', '', '', '', '', '{}')",
        [deleted])
    found = {(f.table, f.kind, f.row_id) for f in sealing.verify_chain()}
    assert ("compliance_auditevent", "modified", modified) in found
    assert ("compliance_auditevent", "modified", deleted) in found  # replaced row
    _as_superuser("DELETE FROM compliance_auditevent WHERE id = %s", [ids[4]])
    kinds = {(f.kind, f.row_id) for f in sealing.verify_chain()}
    assert ("deleted", ids[4]) in kinds
    err = io.StringIO()
    with pytest.raises(SystemExit) as code:
        call_command("verify_audit", stderr=err, stdout=io.StringIO())
    assert code.value.code == 1 and f"row {modified}: modified" in err.getvalue()


@override_settings(AUDIT_SEAL_DELAY_SECONDS=0)
def test_row_inserted_into_a_sealed_range_and_edited_seal_are_detected():
    ids = _events(4)
    sealing.seal_all()
    _as_superuser("DELETE FROM compliance_auditevent WHERE id = %s", [ids[1]])
    _as_superuser("UPDATE compliance_auditseal SET row_digests = "
                  "(SELECT jsonb_agg(d) FROM jsonb_array_elements(row_digests::jsonb) d "
                  "WHERE (d->>0)::bigint <> %s) WHERE table = 'compliance_auditevent'"
                  .replace("table =", '"table" ='), [ids[1]])
    kinds = {f.kind for f in sealing.verify_chain()}
    assert "seal_broken" in kinds


@override_settings(AUDIT_SEAL_DELAY_SECONDS=0)
def test_audit_rows_refuse_update_delete_truncate(customer):
    _events(1)
    sealing.seal_all()  # a seal row, and the customer made auditlog rows: none may change
    for sql in ("UPDATE compliance_auditevent SET outcome = 'x'",
                "DELETE FROM compliance_auditevent", "TRUNCATE compliance_auditevent",
                "DELETE FROM auditlog_logentry", "DELETE FROM compliance_auditseal"):
        with pytest.raises((InternalError, IntegrityError)) as err:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql)
        assert "append-only" in str(err.value)


@override_settings(AUDIT_SEAL_DELAY_SECONDS=0)
def test_seals_chain_and_verify_command_passes():
    _events(3)
    out = io.StringIO()
    call_command("verify_audit", "--seal", stdout=out)
    assert "audit verification passed" in out.getvalue()
    _events(2)
    sealing.seal_all()
    seals = list(AuditSeal.objects.filter(table="compliance_auditevent").order_by("first_id"))
    assert len(seals) >= 2 and seals[1].prev_hash == seals[0].hash
    assert sealing.verify_chain() == []
