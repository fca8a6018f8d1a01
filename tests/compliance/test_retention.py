"""Retention (issue 7, item 5): old sealed rows go to a signed archive, and only then away.

The window is moved instead of the rows: ``now`` is passed 400 days ahead, so rows written by
the test are "older than 365 days" without touching their timestamps (which the seals cover).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command
from django.db import IntegrityError, InternalError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from compliance import audit, retention, sealing
from compliance.audit import SystemActor
from compliance.models import AuditArchive, AuditEvent, AuditSeal

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = SystemActor("tests")
LATER = dt.timedelta(days=400)


def _events(n: int) -> list[int]:
    for i in range(n):
        with transaction.atomic():
            audit.record("test.retention", actor=ACTOR, details={"i": i})
    return list(AuditEvent.objects.order_by("id").values_list("id", flat=True))


def _as_superuser(sql: str, params: tuple | list = ()) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)


@pytest.fixture
def sealed(customer, settings):
    settings.AUDIT_SEAL_DELAY_SECONDS = 0
    ids = _events(5)
    assert sealing.seal_all() >= 2  # audit events and the customer's auditlog entries
    return ids


def test_dry_run_changes_nothing_and_says_what_it_would_do(sealed, tmp_path):
    events, logs = AuditEvent.objects.count(), LogEntry.objects.count()
    out = io.StringIO()
    with override_settings(COMPLIANCE_ARCHIVE_DIR=tmp_path, COMPLIANCE_RETENTION_DAYS=1):
        # nothing is a day old yet
        call_command("audit_retention", "--dry-run", stdout=out)
    assert "nothing to archive" in out.getvalue()
    result = retention.run(dry_run=True, now=timezone.now() + LATER, out_dir=tmp_path,
                           progress=lambda line: out.write(line + "\n"))
    planned = {p.table: p.row_count for p in result.plans}
    assert planned["compliance_auditevent"] == len(sealed)
    assert planned["auditlog_logentry"] >= 1
    assert "compliance_auditevent: 1 seal(s)" in out.getvalue()
    assert (AuditEvent.objects.count(), LogEntry.objects.count()) == (events, logs)
    assert list(tmp_path.iterdir()) == [] and not AuditArchive.objects.exists()


def test_archive_then_prune_keeps_the_chain_verifiable(sealed, tmp_path):
    unsealed_id = _events(1)[-1]  # written after the seal: stays online
    lines: list[str] = []
    result = retention.run(dry_run=False, now=timezone.now() + LATER, out_dir=tmp_path,
                           progress=lines.append)
    assert result.removed["compliance_auditevent"] == len(sealed)
    assert list(AuditEvent.objects.filter(id__in=sealed)) == []
    assert AuditEvent.objects.filter(id=unsealed_id).exists()
    plans = {p.table: p for p in result.plans}
    assert not LogEntry.objects.filter(id__lte=plans["auditlog_logentry"].last_id).exists()
    assert any("removed" in line for line in lines)

    manifest = json.loads(result.manifest_path.read_text())
    table = manifest["tables"]["compliance_auditevent"]
    assert table["count"] == len(sealed)
    assert table["first_id"] <= sealed[0] and table["last_id"] >= sealed[-1]
    db_hashes = dict(AuditSeal.objects.filter(table="compliance_auditevent")
                     .values_list("id", "hash"))
    assert table["seals"] and all(db_hashes[s["id"]] == s["hash"] for s in table["seals"])
    archived_ids = [json.loads(line)["id"] for line in
                    gzip.decompress(result.archive_path.read_bytes()).decode().splitlines()
                    if json.loads(line)["table"] == "compliance_auditevent"]
    assert archived_ids == sealed

    assert sealing.verify_chain() == []  # seals kept; pruned rows are archived, not deleted
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit verification passed" in out.getvalue()
    out = io.StringIO()
    call_command("verify_archive", str(result.archive_path), stdout=out)
    assert "archive verification passed" in out.getvalue()
    event = AuditEvent.objects.get(event_type="audit.retention")
    assert event.details["sha256"] == manifest["sha256"]
    # a second run has nothing left to do
    again = retention.run(dry_run=False, now=timezone.now() + LATER, out_dir=tmp_path)
    assert [p for p in again.plans if p.table == "compliance_auditevent"] == []


def test_a_tampered_archive_is_named(sealed, tmp_path):
    result = retention.run(dry_run=False, now=timezone.now() + LATER, out_dir=tmp_path)
    rows = gzip.decompress(result.archive_path.read_bytes()).decode().splitlines()
    victim = json.loads(rows[1])
    row = json.loads(victim["row"])
    row["outcome"] = "failure"
    victim["row"] = json.dumps(row, sort_keys=True, separators=(",", ":"))
    rows[1] = json.dumps(victim, separators=(",", ":"))
    forged: Path = tmp_path / "forged.jsonl.gz"
    forged.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    manifest = json.loads(result.manifest_path.read_text())
    (tmp_path / "forged.jsonl.gz.manifest.json").write_text(json.dumps(manifest))
    report = retention.verify_archive(forged)
    assert "archive file SHA-256 differs from the manifest" in report.problems
    assert (f"compliance_auditevent row {victim['id']}: differs from its sealed digest"
            in report.problems)
    # re-signing needs the key ring: an edited manifest (new SHA-256) fails its signature
    import hashlib

    manifest["sha256"] = hashlib.sha256(forged.read_bytes()).hexdigest()
    (tmp_path / "forged.jsonl.gz.manifest.json").write_text(json.dumps(manifest))
    report = retention.verify_archive(forged)
    assert report.problems[0].startswith("manifest signature does not verify")
    err = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_archive", str(forged), stdout=io.StringIO(), stderr=err)
    assert f"row {victim['id']}: differs from its sealed digest" in err.getvalue()


def test_tampered_rows_are_never_archived(sealed, tmp_path):
    _as_superuser("UPDATE compliance_auditevent SET outcome = 'denied' WHERE id = %s",
                  [sealed[2]])
    with pytest.raises(retention.RetentionError, match=f"row {sealed[2]}"):
        retention.run(dry_run=False, now=timezone.now() + LATER, out_dir=tmp_path)
    assert AuditEvent.objects.filter(id__in=sealed).count() == len(sealed)
    assert not AuditArchive.objects.exists()


def test_the_trigger_allows_deleting_only_archived_sealed_rows_under_the_switch(sealed,
                                                                                tmp_path):
    def delete(row_id: int, switch: bool) -> None:
        with transaction.atomic(), connection.cursor() as cur:
            if switch:
                cur.execute("SET LOCAL compliance.retention_prune = 'on'")
            cur.execute("DELETE FROM compliance_auditevent WHERE id = %s", [row_id])

    for switch in (False, True):  # sealed but not archived: refused, switch or not
        with pytest.raises((InternalError, IntegrityError), match="append-only"):
            delete(sealed[0], switch)
    retention.run(dry_run=False, now=timezone.now() + LATER, out_dir=tmp_path)
    fresh = _events(1)[-1]  # neither sealed nor archived
    with pytest.raises((InternalError, IntegrityError), match="append-only"):
        delete(fresh, True)
    with pytest.raises((InternalError, IntegrityError), match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL compliance.retention_prune = 'on'")
            cur.execute("UPDATE compliance_auditevent SET outcome = 'x' WHERE id = %s", [fresh])


@override_settings(AUDIT_SEAL_DELAY_SECONDS=0)
def test_tampered_auditlog_entry_is_named(customer):
    sealing.seal_all()
    entry = LogEntry.objects.order_by("id").first()
    _as_superuser("UPDATE auditlog_logentry SET object_repr = 'forged' WHERE id = %s",
                  [entry.pk])
    found = {(f.table, f.kind, f.row_id) for f in sealing.verify_chain()}
    assert ("auditlog_logentry", "modified", entry.pk) in found
