"""``manage.py verify_audit [--seal]``: check the audit hash chain; exit 1 naming each finding."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from compliance import sealing


class Command(BaseCommand):
    help = "Verify the SHA-256 chain over sealed audit rows (names modified/deleted/inserted rows)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seal", action="store_true", help="seal ready rows first")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["seal"]:
            self.stdout.write(f"sealed {sealing.seal_all()} batch(es)")
        findings = sealing.verify_chain()
        for f in findings:
            self.stderr.write(str(f))
        status = sealing.seal_status()
        for table, s in status.items():
            self.stdout.write(f"{table}: sealed through id {s['last_id']}, "
                              f"{s['unsealed']} row(s) not yet sealed, head {s['hash']}")
        if findings:
            self.stderr.write(self.style.ERROR(
                f"audit verification FAILED: {len(findings)} finding(s)"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("audit verification passed"))
