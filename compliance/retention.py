"""Retention of the audit trail: archive old sealed rows to a signed file, then remove them.

Policy (issue 7, item 5): audit rows stay online ``COMPLIANCE_RETENTION_DAYS`` (default 365:
PCI DSS v4.0 10.5.1 keeps audit logs at least 12 months, the latest three immediately
available). Older rows leave the database only when all of these hold:

1. they are sealed, whole seals at a time, and every row of those seals is older than the
   cut-off (``now - COMPLIANCE_RETENTION_DAYS``);
2. they still match their seals (a tampered row is never archived: the run stops, naming it);
3. they were written to a gzip JSON-lines archive file with a manifest (row id range and count
   per table, SHA-256 of the archive file, the covered seals with their hashes), signed with
   HMAC-SHA256 under the key ring (:func:`creditplatform.crypto.blind_index` with purpose
   ``audit_archive``: the ring's HMAC key, domain-separated), and the file is on disk (fsync);
4. an :class:`~compliance.models.AuditArchive` row for the range is inserted in the same
   transaction as the deletion, which sets ``compliance.retention_prune`` so the append-only
   trigger (migration 0006) lets exactly those rows go.

The seals stay, so the chain still verifies (``verify_audit``); ``verify_archive FILE``
recomputes every archived row's digest and each covered seal's hash from the file alone.

Archive line: ``{"table": ..., "id": ..., "row": "<canonical JSON of the row>"}`` (the
``row`` text is exactly what the seal's digest was computed over).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from compliance import audit, sealing
from compliance.models import AuditArchive, AuditSeal

SIGNATURE_PURPOSE = "audit_archive"
_TIME_COLUMN = {"compliance_auditevent": "occurred_at", "auditlog_logentry": "timestamp"}


class RetentionError(Exception):
    """The run cannot archive safely (tampered rows, missing rows); nothing was removed."""


@dataclass
class TablePlan:
    """What one table's retention would archive: whole seals, in chain order."""

    table: str
    seals: list[AuditSeal] = field(default_factory=list)

    @property
    def first_id(self) -> int:
        return self.seals[0].first_id

    @property
    def last_id(self) -> int:
        return self.seals[-1].last_id

    @property
    def row_count(self) -> int:
        return sum(s.row_count for s in self.seals)


@dataclass
class RetentionResult:
    """The outcome of :func:`run`: the plans, and the files written (None on a dry run)."""

    cutoff: datetime
    plans: list[TablePlan]
    archive_path: Path | None = None
    manifest_path: Path | None = None
    removed: dict[str, int] = field(default_factory=dict)


def cutoff_for(now: datetime | None = None, days: int | None = None) -> datetime:
    """``now - COMPLIANCE_RETENTION_DAYS`` (or ``days``)."""
    days = settings.COMPLIANCE_RETENTION_DAYS if days is None else days
    return (now or timezone.now()) - timedelta(days=days)


def plan(*, cutoff: datetime) -> list[TablePlan]:
    """Per sealed table, the not yet archived seals whose rows are all older than ``cutoff``
    (stopping at the first seal with a newer row, so archives stay contiguous)."""
    plans = []
    for table in sealing.SEALED_TABLES:
        archived_upto = (AuditArchive.objects.filter(table=table).order_by("-last_id")
                         .values_list("last_id", flat=True).first())
        seals = AuditSeal.objects.filter(table=table).order_by("first_id")
        if archived_upto is not None:
            seals = seals.filter(first_id__gt=archived_upto)
        tp = TablePlan(table)
        time_col = connection.ops.quote_name(_TIME_COLUMN[table])
        for seal in seals:
            with connection.cursor() as cur:
                cur.execute(f"SELECT max({time_col}) FROM {connection.ops.quote_name(table)} "  # noqa: S608
                            "WHERE id BETWEEN %s AND %s", [seal.first_id, seal.last_id])
                newest = _as_datetime(cur.fetchone()[0])
            if newest is None or newest >= cutoff:
                break
            tp.seals.append(seal)
        plans.append(tp)
    return plans


def _as_datetime(value: Any) -> Any:
    """A raw ``max(timestamp)``: PostgreSQL gives an aware datetime, SQLite (the demo) text in
    UTC."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed
    return value


def sign(manifest: dict[str, Any]) -> str:
    """HMAC-SHA256 hex over the canonical JSON of ``manifest`` without its ``signature``."""
    from creditplatform import crypto

    body = {k: v for k, v in manifest.items() if k != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return crypto.blind_index(canonical, purpose=SIGNATURE_PURPOSE)


def _checked_rows(tp: TablePlan) -> list[tuple[int, str]]:
    """``(id, canonical row)`` of the plan's rows, each matching its sealed digest."""
    columns = sealing._columns(tp.table)
    actual = {row["id"]: sealing.canonical_row(row)
              for row in sealing._rows(tp.table, columns, tp.first_id, tp.last_id)}
    out, problems = [], []
    for seal in tp.seals:
        for row_id, digest in seal.row_digests:
            text = actual.get(int(row_id))
            if text is None:
                problems.append(f"{tp.table} row {row_id}: sealed row is missing")
            elif hashlib.sha256(text.encode()).hexdigest() != digest:
                problems.append(f"{tp.table} row {row_id}: row differs from its sealed digest")
            else:
                out.append((int(row_id), text))
    if problems:
        raise RetentionError("; ".join(problems))
    return out


def run(*, dry_run: bool, now: datetime | None = None, days: int | None = None,
        out_dir: Path | None = None, progress: Callable[[str], None] = lambda _: None,
        ) -> RetentionResult:
    """Archive and remove sealed rows older than the retention window (see the module doc).

    With ``dry_run`` nothing is written or removed; the result holds the plans.

    Raises:
        RetentionError: a planned row is missing or differs from its seal (nothing removed).
    """
    now = now or timezone.now()
    cutoff = cutoff_for(now, days)
    plans = [p for p in plan(cutoff=cutoff) if p.seals]
    result = RetentionResult(cutoff=cutoff, plans=plans)
    for tp in plans:
        progress(f"{tp.table}: {len(tp.seals)} seal(s), rows {tp.first_id}..{tp.last_id} "
                 f"({tp.row_count} row(s)) older than {cutoff:%Y-%m-%d %H:%M:%S}Z")
    if dry_run or not plans:
        return result

    rows = {tp.table: _checked_rows(tp) for tp in plans}
    out_dir = Path(out_dir or settings.COMPLIANCE_ARCHIVE_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    archive_path = out_dir / f"audit-archive-{stamp}.jsonl.gz"
    digest = hashlib.sha256()
    with open(archive_path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            for table, items in rows.items():
                for row_id, text in items:
                    line = json.dumps({"table": table, "id": row_id, "row": text},
                                      separators=(",", ":"), ensure_ascii=False) + "\n"
                    gz.write(line.encode())
                progress(f"{table}: {len(items)} row(s) written to {archive_path.name}")
        raw.flush()
        os.fsync(raw.fileno())
    digest.update(archive_path.read_bytes())
    manifest: dict[str, Any] = {
        "format": 1,
        "archive": archive_path.name,
        "sha256": digest.hexdigest(),
        "created_at": now.isoformat(),
        "cutoff": cutoff.isoformat(),
        "retention_days": settings.COMPLIANCE_RETENTION_DAYS if days is None else days,
        "tables": {
            tp.table: {
                "first_id": tp.first_id, "last_id": tp.last_id, "count": len(rows[tp.table]),
                "seals": [{"id": s.pk, "first_id": s.first_id, "last_id": s.last_id,
                           "row_count": s.row_count, "prev_hash": s.prev_hash, "hash": s.hash}
                          for s in tp.seals],
            } for tp in plans
        },
        "signature_alg": "HMAC-SHA256 (key ring HMAC key, purpose audit_archive)",
    }
    manifest["signature"] = sign(manifest)
    manifest_path = archive_path.with_name(archive_path.name + ".manifest.json")
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    result.archive_path, result.manifest_path = archive_path, manifest_path

    with transaction.atomic():
        for tp in plans:
            AuditArchive.objects.create(
                table=tp.table, created_at=now, first_id=tp.first_id, last_id=tp.last_id,
                row_count=len(rows[tp.table]), first_seal=tp.seals[0], last_seal=tp.seals[-1],
                cutoff=cutoff, file_name=archive_path.name, file_sha256=manifest["sha256"],
                signature=manifest["signature"])
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute("SET LOCAL compliance.retention_prune = 'on'")
            for tp in plans:
                cur.execute(f"DELETE FROM {connection.ops.quote_name(tp.table)} "  # noqa: S608
                            "WHERE id BETWEEN %s AND %s", [tp.first_id, tp.last_id])
                result.removed[tp.table] = cur.rowcount
                progress(f"{tp.table}: removed {cur.rowcount} row(s)")
        audit.record("audit.retention", actor=audit.SystemActor("audit_retention"),
                     object_type="audit_archive", object_id=archive_path.name[:64],
                     details={"cutoff": cutoff.isoformat(), "sha256": manifest["sha256"],
                              "removed": result.removed,
                              "ranges": {tp.table: [tp.first_id, tp.last_id] for tp in plans}})
    return result


@dataclass
class ArchiveReport:
    """What :func:`verify_archive` found: ``problems`` empty means the archive is intact."""

    rows: dict[str, int]
    seals: int
    problems: list[str]


def verify_archive(path: Path) -> ArchiveReport:
    """Check an archive file against its manifest and the seal chain.

    Checks: the manifest's signature (HMAC under the key ring), the file's SHA-256, each row's
    digest against the seal's stored digest (when the seal is in the database) and each covered
    seal's hash recomputed from the file's rows (``chain_hash(prev_hash, digests)``), the seal
    hashes against the database's seals, and the row counts.
    """
    path = Path(path)
    manifest_path = path if path.name.endswith(".manifest.json") else path.with_name(
        path.name + ".manifest.json")
    archive_path = manifest_path.with_name(manifest_path.name.removesuffix(".manifest.json"))
    problems: list[str] = []
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if not hmac.compare_digest(sign(manifest), str(manifest.get("signature", ""))):
        problems.append("manifest signature does not verify (manifest edited or wrong key)")
    data = archive_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        problems.append("archive file SHA-256 differs from the manifest")
    by_table: dict[str, dict[int, str]] = {}
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        item = json.loads(line)
        digest = hashlib.sha256(item["row"].encode()).hexdigest()
        by_table.setdefault(item["table"], {})[int(item["id"])] = digest
    seal_count = 0
    for table, info in manifest.get("tables", {}).items():
        digests = by_table.get(table, {})
        if len(digests) != info.get("count"):
            problems.append(f"{table}: {len(digests)} row(s) in the file, manifest says "
                            f"{info.get('count')}")
        for s in info.get("seals", []):
            seal_count += 1
            ids = range(s["first_id"], s["last_id"] + 1)
            db_seal = AuditSeal.objects.filter(pk=s["id"], table=table).first()
            if db_seal is not None:
                if db_seal.hash != s["hash"]:
                    problems.append(f"{table}: seal {s['id']} hash differs from the database")
                for row_id, sealed in db_seal.row_digests:
                    got = digests.get(int(row_id))
                    if got is None:
                        problems.append(f"{table} row {row_id}: missing from the archive")
                    elif got != sealed:
                        problems.append(f"{table} row {row_id}: differs from its sealed digest")
                order = [int(i) for i, _ in db_seal.row_digests]
            else:
                order = [i for i in ids if i in digests]
            rebuilt = sealing.chain_hash(s["prev_hash"], [digests.get(i, "") for i in order])
            if rebuilt != s["hash"]:
                problems.append(f"{table}: seal {s['id']} hash does not match the archived rows")
    return ArchiveReport(rows={t: len(d) for t, d in by_table.items()}, seals=seal_count,
                         problems=problems)
