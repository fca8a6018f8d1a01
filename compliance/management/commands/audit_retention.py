"""``manage.py audit_retention [--dry-run] [--days N] [--out DIR]``: archive, then remove, sealed
audit rows older than ``COMPLIANCE_RETENTION_DAYS`` (compliance/retention.py; docs/compliance.md).

Run as the tables' owner (the migration role): the application's role may not delete audit rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import retention


class Command(BaseCommand):
    help = "Archive sealed audit rows older than the retention window (signed), then remove them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would be archived and removed; change nothing")
        parser.add_argument("--days", type=int, default=None,
                            help="retention window in days (default COMPLIANCE_RETENTION_DAYS)")
        parser.add_argument("--out", type=Path, default=None,
                            help="archive directory (default COMPLIANCE_ARCHIVE_DIR)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["days"] is not None and opts["days"] < 1:
            raise CommandError("--days must be at least 1")
        try:
            result = retention.run(dry_run=opts["dry_run"], days=opts["days"], out_dir=opts["out"],
                                   progress=self.stdout.write)
        except retention.RetentionError as exc:
            raise CommandError(f"nothing removed: {exc}") from exc
        total = sum(p.row_count for p in result.plans)
        if not result.plans:
            self.stdout.write(f"nothing to archive: no sealed rows older than "
                              f"{result.cutoff:%Y-%m-%d %H:%M:%S}Z")
        elif opts["dry_run"]:
            self.stdout.write(self.style.WARNING(
                f"dry run: would archive and remove {total} row(s); nothing changed"))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"archived {total} row(s) to {result.archive_path} "
                f"(manifest {result.manifest_path.name}); removed "
                + ", ".join(f"{t}: {n}" for t, n in result.removed.items())))
