"""``manage.py replay_transactions PATH [--limit N]``: push real card transactions through the
same charge service the API uses.

PATH is a CSV in the format of the Fraud Detection Handbook data
(``TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,...``; label columns ignored).
A CUSTOMER_ID becomes a cardholder with a credit account and a card, a TERMINAL_ID a merchant.
Each row is one idempotent charge with the key ``hb-tx-<TRANSACTION_ID>``, so replaying the
same file again creates nothing new. A malformed row is reported with its line number and
skipped; each row commits or rolls back whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from accounts import services as account_services
from accounts.models import Card, CreditAccount, User
from compliance.audit import SystemActor
from creditplatform.errors import ApplicationError
from creditplatform.luhn import luhn_valid
from fraud.models import Alert
from ledger import idempotency
from ledger import services as ledger_services
from ledger.models import IdempotencyRecord

REPLAY = SystemActor("replay_transactions")
REQUIRED = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"]
CURRENCY = "EUR"
CREDIT_LIMIT = 10_000_000  # minor units: 100,000.00 EUR per replayed cardholder


class RowError(ValueError):
    """A row that cannot be replayed; the message says why."""


@dataclass(frozen=True)
class Row:
    """One parsed transaction: ``amount`` in minor units (2 decimals in the source)."""

    transaction_id: int
    occurred_at: dt.datetime
    customer_id: int
    terminal_id: int
    amount: int


def parse_row(raw: dict[str, str]) -> Row:
    """Parse one CSV row. Raises RowError with the reason (never half a row)."""
    try:
        tx_id = int(raw["TRANSACTION_ID"])
        customer = int(raw["CUSTOMER_ID"])
        terminal = int(raw["TERMINAL_ID"])
        when = dt.datetime.strptime(raw["TX_DATETIME"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise RowError(f"bad field ({exc})") from None
    try:
        amount = Decimal(raw["TX_AMOUNT"])
    except (InvalidOperation, TypeError):
        raise RowError(f"TX_AMOUNT {raw.get('TX_AMOUNT')!r} is not a number") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise RowError(f"TX_AMOUNT {raw['TX_AMOUNT']!r} has more than 2 decimals")
    minor = int(amount * 100)
    if minor <= 0:
        raise RowError(f"TX_AMOUNT {raw['TX_AMOUNT']!r} is not positive")
    if customer < 0 or terminal < 0:
        raise RowError("negative id")
    return Row(tx_id, when, customer, terminal, minor)


def demo_pan(customer_id: int) -> str:
    """A deterministic Luhn-valid test PAN for a replayed customer (BIN 499999)."""
    body = f"499999{customer_id:09d}"
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


class Command(BaseCommand):
    help = "Replay handbook-format card transactions through the charge service."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--limit", type=int, default=None, help="replay at most N rows")
        parser.add_argument("--no-progress", action="store_true")

    def _known_cardholders(self) -> dict[int, tuple[Any, Any]]:
        """customer id -> (account id, card id) for cardholders made by earlier replays."""
        known: dict[int, tuple[Any, Any]] = {}
        for card_id, account_id, username in Card.objects.filter(
            account__owner__username__startswith="hb-customer-"
        ).values_list("id", "account_id", "account__owner__username"):
            known.setdefault(int(username.rsplit("-", 1)[1]), (account_id, card_id))
        return known

    def _done_keys(self) -> dict[str, tuple[int, str]]:
        """Keys (as stored: HMAC) this command already completed: key -> (status, code)."""
        return {
            key: (status, (body or {}).get("code", "") if isinstance(body, dict) else "")
            for key, status, body in IdempotencyRecord.objects.filter(
                scope=REPLAY.idempotency_scope).values_list("key", "response_status",
                                                            "response_body")
        }

    @staticmethod
    def _count(status: int, code: str, counts: Counter[str]) -> None:
        if status == 201:
            counts["approved"] += 1
        elif code == "card_declined":
            counts["declined"] += 1
        else:
            counts["refused"] += 1

    def _cardholder(self, customer_id: int, cache: dict[int, tuple[Any, Any]]) -> tuple[Any, Any]:
        if customer_id in cache:
            return cache[customer_id]
        username = f"hb-customer-{customer_id}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user, account = account_services.customer_create(
                actor=REPLAY, username=username, password=None, credit_limit=CREDIT_LIMIT,
                currency=CURRENCY)
        else:
            account = CreditAccount.objects.filter(owner=user).order_by("created_at").first()
        pan = demo_pan(customer_id)
        card = Card.objects.filter(pan_index=account_services.pan_blind_index(pan)).first()
        if card is None:
            card = account_services.card_create(actor=REPLAY, account_id=account.pk, pan=pan,
                                                exp_month=12, exp_year=2099)
        cache[customer_id] = (account.pk, card.pk)
        return cache[customer_id]

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        limit = opts["limit"]
        with path.open(newline="") as fh:
            total = max(0, sum(1 for _ in fh) - 1)
        if limit is not None:
            total = min(total, limit)
        counts: Counter[str] = Counter()
        alerts_before = Alert.objects.count()
        holders = self._known_cardholders()
        done = self._done_keys()
        started = time.monotonic()
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise CommandError(f"{path}: missing columns {', '.join(missing)}")
            # a terminal gets a live bar; a log file gets a line every 15 s
            bar = tqdm(total=total, unit="tx", disable=opts["no_progress"], desc="replay",
                       mininterval=0.1 if sys.stderr.isatty() else 15)
            for line_no, raw in enumerate(reader, start=2):
                if limit is not None and counts["rows"] >= limit:
                    break
                counts["rows"] += 1
                bar.update(1)
                try:
                    row = parse_row(raw)
                except RowError as exc:
                    counts["invalid"] += 1
                    self.stderr.write(f"line {line_no}: skipped: {exc}")
                    continue
                stored = done.get(idempotency.stored_key(f"hb-tx-{row.transaction_id}"))
                if stored is not None:  # fast path; run_idempotent would replay the same
                    counts["replayed"] += 1
                    continue
                self._replay_row(row, holders, counts, line_no)
            bar.close()
        elapsed = time.monotonic() - started
        counts["flagged"] = Alert.objects.count() - alerts_before
        rate = counts["rows"] / elapsed if elapsed else 0.0
        self.stdout.write(
            f"rows={counts['rows']} approved={counts['approved']} declined={counts['declined']} "
            f"flagged={counts['flagged']} refused={counts['refused']} "
            f"invalid={counts['invalid']} already_replayed={counts['replayed']} "
            f"elapsed={elapsed:.1f}s rows_per_second={rate:.1f}"
        )

    def _replay_row(self, row: Row, holders: dict[int, tuple[Any, Any]], counts: Counter[str],
                    line_no: int) -> None:
        try:
            account_id, card_id = self._cardholder(row.customer_id, holders)
        except ApplicationError as exc:
            counts["invalid"] += 1
            self.stderr.write(f"line {line_no}: skipped: cardholder: {exc.code}")
            return
        body = {"amount": row.amount, "currency": CURRENCY, "card": str(card_id),
                "merchant": f"terminal-{row.terminal_id}",
                "occurred_at": row.occurred_at.isoformat()}

        def operation() -> tuple[int, dict[str, Any]]:
            result = ledger_services.charge_create(
                actor=REPLAY, account_id=account_id, amount=row.amount, currency=CURRENCY,
                card_id=card_id, merchant=body["merchant"], occurred_at=row.occurred_at,
            )
            return 201, {"id": str(result.entry.pk), "fraud": {
                "decision": result.fraud.decision, "reasons": list(result.fraud.reasons)}}

        result = idempotency.run_idempotent(
            actor=REPLAY, key=f"hb-tx-{row.transaction_id}", method="POST",
            route=f"/api/v1/accounts/{account_id}/charges/", body=body, operation=operation,
        )
        if result.replayed:
            counts["replayed"] += 1
            return
        self._count(result.status, str(result.body.get("code", "")), counts)
