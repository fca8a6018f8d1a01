"""Tamper evidence for the audit trail: a SHA-256 hash chain of sealed batches.

Sealed tables: ``compliance_auditevent`` (security events) and ``auditlog_logentry`` (model
changes). A periodic task (Celery beat, ``compliance.tasks.audit_seal``) seals rows older than
``AUDIT_SEAL_DELAY_SECONDS`` (so a transaction still in flight cannot commit a lower id after
its batch was sealed) in batches; each seal stores the per-row digests and chains to the
previous seal: ``hash = SHA-256(prev_hash || digest_1 || ... || digest_n)`` (the construction
of RFC 6962's hash list, linear rather than a tree). :func:`verify_chain` recomputes everything
and names each modified, deleted or inserted row and each broken seal. Rows removed by retention
(``compliance.retention``) are not "deleted": an archive manifest covers them, the seals stay in
the chain, and ``verify_archive FILE`` checks the archived rows against the seals' digests.

Canonical row: JSON of every column (sorted keys, ISO 8601 times, UTF-8, no spaces).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from compliance.models import AuditSeal

GENESIS = "0" * 64
SEALED_TABLES = ("compliance_auditevent", "auditlog_logentry")


@dataclass(frozen=True)
class Finding:
    """A tamper finding: ``kind`` is modified, deleted, inserted or seal_broken."""

    table: str
    kind: str
    row_id: int | None
    detail: str

    def __str__(self) -> str:
        row = f" row {self.row_id}" if self.row_id is not None else ""
        return f"{self.table}{row}: {self.kind}: {self.detail}"


def _columns(table: str) -> list[str]:
    with connection.cursor() as cur:
        desc = connection.introspection.get_table_description(cur, table)
    return sorted(col.name for col in desc)


def _rows(table: str, columns: list[str], first: int, last: int | None = None,
          before: Any = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"SELECT {cols} FROM {connection.ops.quote_name(table)} WHERE id >= %s"  # noqa: S608
    params: list[Any] = [first]
    if last is not None:
        sql += " AND id <= %s"
        params.append(last)
    if before is not None:
        time_col = "occurred_at" if table == "compliance_auditevent" else "timestamp"
        sql += f" AND {time_col} < %s"
        params.append(before)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for values in cur.fetchall():
            yield dict(zip(columns, values, strict=True))


def canonical_row(row: dict[str, Any]) -> str:
    """The canonical JSON text of one row (what its digest is computed over)."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder,
                      default=str, ensure_ascii=False)


def row_digest(row: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of one row."""
    return hashlib.sha256(canonical_row(row).encode()).hexdigest()


def archived_ranges(table: str) -> list[tuple[int, int]]:
    """``(first_id, last_id)`` of each archived (retention-pruned) range of ``table``."""
    from compliance.models import AuditArchive

    return list(AuditArchive.objects.filter(table=table).order_by("first_id")
                .values_list("first_id", "last_id"))


def chain_hash(prev_hash: str, digests: list[str]) -> str:
    """``SHA-256(prev_hash || digest_1 || ... || digest_n)`` as hex."""
    h = hashlib.sha256(prev_hash.encode())
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def seal_table(table: str, *, batch: int = 1000, now: Any = None) -> AuditSeal | None:
    """Seal the next batch of unsealed rows of ``table`` older than the seal delay.

    Runs under a transaction-level advisory lock per table (PostgreSQL), so concurrent sealers
    never fork the chain. Returns the new seal, or None when nothing is ready.
    """
    now = now or timezone.now()
    delay = timedelta(seconds=getattr(settings, "AUDIT_SEAL_DELAY_SECONDS", 60))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"seal:{table}"])
        last = AuditSeal.objects.filter(table=table).order_by("-last_id").first()
        first_id = (last.last_id + 1) if last else 0
        columns = _columns(table)
        rows = list(_rows(table, columns, first_id, before=now - delay, limit=batch))
        if not rows:
            return None
        digests = [[row["id"], row_digest(row)] for row in rows]
        prev = last.hash if last else GENESIS
        return AuditSeal.objects.create(
            table=table, sealed_at=now, first_id=first_id, last_id=rows[-1]["id"],
            row_count=len(rows), row_digests=digests, prev_hash=prev,
            hash=chain_hash(prev, [d for _, d in digests]),
        )


def seal_all(*, batch: int = 1000, max_batches: int = 100) -> int:
    """Seal every ready row of every sealed table; returns the number of seals made."""
    made = 0
    for table in SEALED_TABLES:
        for _ in range(max_batches):
            if seal_table(table, batch=batch) is None:
                break
            made += 1
    return made


def verify_chain() -> list[Finding]:
    """Recompute every seal; an empty list means no sealed row was changed, removed or added."""
    findings: list[Finding] = []
    for table in SEALED_TABLES:
        columns = _columns(table)
        archived = archived_ranges(table)
        prev_hash, prev_last = GENESIS, -1
        for seal in AuditSeal.objects.filter(table=table).order_by("first_id"):
            if seal.prev_hash != prev_hash:
                findings.append(Finding(table, "seal_broken", None,
                                        f"seal {seal.pk} does not chain to the previous seal"))
            if seal.first_id != prev_last + 1:
                findings.append(Finding(table, "seal_broken", None,
                                        f"seal {seal.pk} leaves a gap before id {seal.first_id}"))
            stored = {int(i): d for i, d in seal.row_digests}
            if chain_hash(seal.prev_hash, [d for _, d in seal.row_digests]) != seal.hash:
                findings.append(Finding(table, "seal_broken", None,
                                        f"seal {seal.pk} hash does not match its digests"))
            actual = {row["id"]: row_digest(row)
                      for row in _rows(table, columns, seal.first_id, seal.last_id)}
            for row_id, digest in stored.items():
                if row_id not in actual:
                    if any(first <= row_id <= last for first, last in archived):
                        continue  # removed by retention after archiving (verify_archive FILE)
                    findings.append(Finding(table, "deleted", row_id, "sealed row is missing"))
                elif actual[row_id] != digest:
                    findings.append(Finding(table, "modified", row_id,
                                            "row differs from its sealed digest"))
            for row_id in sorted(set(actual) - set(stored)):
                findings.append(Finding(table, "inserted", row_id,
                                        f"row inside sealed range of seal {seal.pk}"))
            prev_hash, prev_last = seal.hash, seal.last_id
    return findings


def seal_status() -> dict[str, dict[str, Any]]:
    """Per table: last sealed id, last seal time and hash, rows not yet sealed."""
    status: dict[str, dict[str, Any]] = {}
    for table in SEALED_TABLES:
        last = AuditSeal.objects.filter(table=table).order_by("-last_id").first()
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)} "  # noqa: S608
                        "WHERE id > %s", [last.last_id if last else -1])
            unsealed = cur.fetchone()[0]
        status[table] = {"last_id": last.last_id if last else None,
                         "sealed_at": last.sealed_at if last else None,
                         "hash": last.hash if last else None, "unsealed": unsealed}
    return status
