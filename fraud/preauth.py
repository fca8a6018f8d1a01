"""Pre-authorization rules run inside the charge transaction (``LEDGER_PREAUTH``).

Fast checks on indexed history (``journal entry (card, occurred_at)`` and
``(account, occurred_at)`` indexes): frozen card, velocity, card testing, amount far above the
cardholder's own history, merchant on the risk list. Thresholds come from
``settings.FRAUD_RULES``. Rules follow the usual issuer practice (e.g. Visa/Mastercard velocity
and card-testing guidance; Le Borgne et al., *Reproducible ML for Credit Card Fraud Detection*,
ch. 3 for customer-spending features).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, Count, Q, Sum

from accounts.models import Card
from ledger.models import Hold, JournalEntry
from ledger.preauth import APPROVE, DECLINE, REVIEW, PreauthDecision, PreauthRequest

DEFAULT_RULES = {
    "velocity_window_seconds": 600,
    "velocity_max_count": 10,
    "velocity_amount_window_seconds": 3600,
    "velocity_max_amount": 500_000,
    "card_testing_window_seconds": 600,
    "card_testing_small_amount": 300,
    "card_testing_max_small": 5,
    "history_days": 30,
    "history_min_count": 5,
    "history_ratio": 5.0,
    "history_min_amount": 10_000,
    "risky_merchants": [],
}


def rules() -> dict:
    """Effective thresholds: ``DEFAULT_RULES`` overridden by ``settings.FRAUD_RULES``."""
    return {**DEFAULT_RULES, **getattr(settings, "FRAUD_RULES", {})}


def decide(request: PreauthRequest) -> PreauthDecision:
    """Approve, review or decline a charge before it is posted; reasons are stable codes.

    Decline: ``card_frozen``, ``velocity_count``, ``card_testing``. Review:
    ``velocity_amount``, ``amount_above_history``, ``merchant_risk_list``.
    """
    cfg = rules()
    reasons: list[str] = []
    decline: list[str] = []
    card = request.card
    when = request.occurred_at
    charges = JournalEntry.objects.filter(kind=JournalEntry.Kind.CHARGE)
    if card is not None and card.status != Card.Status.ACTIVE:
        decline.append("card_frozen")
    # Attempts are direct charges plus authorizations (captures belong to their hold), on the
    # card, or on the account when no card is named: leaving the card out evades nothing.
    scope = {"card": card} if card is not None else {"account": request.account}
    velocity_since = when - timedelta(seconds=cfg["velocity_window_seconds"])
    testing_since = when - timedelta(seconds=cfg["card_testing_window_seconds"])
    amount_since = when - timedelta(seconds=cfg["velocity_amount_window_seconds"])
    earliest = min(velocity_since, testing_since, amount_since)
    small = cfg["card_testing_small_amount"]
    n = small_n = total = 0
    for attempts in (charges, Hold.objects.all()):
        agg = attempts.filter(occurred_at__gt=earliest, occurred_at__lte=when, **scope).aggregate(
            n=Count("id", filter=Q(occurred_at__gt=velocity_since)),
            small=Count("id", filter=Q(occurred_at__gt=testing_since, amount__lte=small)),
            total=Sum("amount", filter=Q(occurred_at__gt=amount_since)),
        )
        n, small_n, total = n + agg["n"], small_n + agg["small"], total + (agg["total"] or 0)
    if n + 1 > cfg["velocity_max_count"]:
        decline.append("velocity_count")
    if request.amount <= small and small_n + 1 > cfg["card_testing_max_small"]:
        decline.append("card_testing")
    if total + request.amount > cfg["velocity_max_amount"]:
        reasons.append("velocity_amount")
    history = charges.filter(
        account=request.account,
        occurred_at__gt=when - timedelta(days=cfg["history_days"]),
        occurred_at__lte=when,
    ).aggregate(n=Count("id"), mean=Avg("amount"))
    if (
        history["n"] >= cfg["history_min_count"]
        and request.amount >= cfg["history_min_amount"]
        and request.amount > cfg["history_ratio"] * float(history["mean"] or 0)
    ):
        reasons.append("amount_above_history")
    if request.merchant and request.merchant in cfg["risky_merchants"]:
        reasons.append("merchant_risk_list")
    if decline:
        return PreauthDecision(decision=DECLINE, reasons=decline + reasons)
    if reasons:
        return PreauthDecision(decision=REVIEW, reasons=reasons)
    return PreauthDecision(decision=APPROVE, reasons=[])
