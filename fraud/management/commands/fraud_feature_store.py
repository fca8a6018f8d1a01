"""``manage.py fraud_feature_store [--reset] [--rebuild] [--batch N]``: the live feature store.

``--rebuild`` feeds the store from the journal (charges and captures in time order, entries
already featurised skipped): to start it on a database with history, or after ``--reset``
(which empties it: every per-account / per-merchant state and every stored feature vector).
Without options it prints the store's size. See :mod:`fraud.feature_store`.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fraud import feature_store
from fraud.aggregates import FeatureEntityState, FeatureSnapshot


class Command(BaseCommand):
    help = "Reset or rebuild the live fraud feature store from the journal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="empty the store first")
        parser.add_argument("--rebuild", action="store_true", help="feed it from the journal")
        parser.add_argument("--batch", type=int, default=500, help="entries per transaction")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["reset"]:
            feature_store.reset()
            self.stdout.write("feature store emptied")
        if opts["rebuild"]:
            started = time.monotonic()
            n = feature_store.rebuild(batch=opts["batch"])
            self.stdout.write(f"fed {n} entries in {time.monotonic() - started:.1f}s")
        self.stdout.write(f"{FeatureEntityState.objects.count()} entity states, "
                          f"{FeatureSnapshot.objects.count()} feature snapshots")
