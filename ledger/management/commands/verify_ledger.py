"""``manage.py verify_ledger``: check every ledger invariant; exit 1 naming each mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ledger.verification import verify_ledger


class Command(BaseCommand):
    help = "Verify double entry, stored balances against postings and holds, refund limits."

    def handle(self, *args: Any, **opts: Any) -> None:
        mismatches = verify_ledger()
        for m in mismatches:
            self.stderr.write(str(m))
        if mismatches:
            self.stderr.write(self.style.ERROR(f"ledger verification FAILED: {len(mismatches)} "
                                               "mismatch(es)"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("ledger verification passed"))
