"""``manage.py verify_archive FILE``: check a retention archive against its signed manifest and the
seal chain; exit 1 naming each problem (compliance/retention.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import retention


class Command(BaseCommand):
    help = "Verify an audit archive file (signature, SHA-256, rows against their seals)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the .jsonl.gz archive or its .manifest.json")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        try:
            report = retention.verify_archive(path)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read archive {path}: {exc}") from exc
        for problem in report.problems:
            self.stderr.write(problem)
        rows = ", ".join(f"{t}: {n}" for t, n in report.rows.items()) or "no rows"
        self.stdout.write(f"{path.name}: {rows}; {report.seals} seal(s)")
        if report.problems:
            self.stderr.write(self.style.ERROR(
                f"archive verification FAILED: {len(report.problems)} problem(s)"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("archive verification passed"))
