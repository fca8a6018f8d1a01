"""The pre-authorization hook: the ledger asks a setting-named callable, never imports fraud.

``settings.LEDGER_PREAUTH`` names ``callable(request: PreauthRequest) -> PreauthDecision``
(default ``fraud.preauth.decide``). It runs inside the charge transaction, after the account
row is locked, so it must be fast and must not write outside that transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import Card, CreditAccount

APPROVE = "approve"
REVIEW = "review"
DECLINE = "decline"


@dataclass(frozen=True)
class PreauthRequest:
    """A charge about to be approved: ``amount`` minor units of ``currency`` at ``occurred_at``."""

    account: CreditAccount
    card: Card | None
    amount: int
    currency: str
    merchant: str
    occurred_at: dt.datetime


@dataclass(frozen=True)
class PreauthDecision:
    """``decision`` is approve, review or decline; ``reasons`` are stable reason codes."""

    decision: str = APPROVE
    reasons: list[str] = field(default_factory=list)


@lru_cache(maxsize=4)
def _load(path: str) -> Callable[[PreauthRequest], PreauthDecision]:
    return import_string(path)


def approve_all(request: PreauthRequest) -> PreauthDecision:
    """A pre-authorization hook with no rules, for ledger-only tests and benchmarks that must
    measure the ledger alone (``LEDGER_PREAUTH="ledger.preauth.approve_all"``)."""
    return PreauthDecision(decision=APPROVE, reasons=[])


def decide(request: PreauthRequest) -> PreauthDecision:
    """Ask the configured pre-authorization callable for a decision."""
    return _load(settings.LEDGER_PREAUTH)(request)
