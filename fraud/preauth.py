"""Pre-authorization rules run inside the charge transaction (``LEDGER_PREAUTH``).

Fast checks on indexed history: frozen card, velocity, card testing, amount far above the
cardholder's own history, merchant on the risk list. Rules follow the usual issuer practice
(e.g. Visa/Mastercard velocity and card-testing guidance; Le Borgne et al., *Reproducible ML
for Credit Card Fraud Detection*, ch. 3 for customer-spending features).

Thresholds come from :func:`fraud.rules.active_rules` (the maker-checker rule set in force,
cached per process behind one cache read; ``settings.FRAUD_RULES`` when no version is active).

Cost: one SQL statement (:data:`_SQL_CARD` / :data:`_SQL_ACCOUNT`), index range reads on
``journal entry (card|account, occurred_at)`` and ``hold (card|account, occurred_at)`` over the
longest velocity window (minutes) plus ``journal entry (account, occurred_at)`` over
``history_days``; p50/p99 measured by ``bench/preauth.py`` (``bench/README.md``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from accounts.models import Card
from ledger.models import JournalEntry
from ledger.preauth import APPROVE, DECLINE, REVIEW, PreauthDecision, PreauthRequest

# Attempts are direct charges plus authorizations (captures belong to their hold), on the card,
# or on the account when no card is named: leaving the card out evades nothing. Parameters:
# velocity since, testing since, small amount, amount since, scope id, earliest, when (twice:
# charges, holds), then account id, history since, when.
_VELOCITY = """
SELECT v.n, v.small, v.total, h.n, h.total FROM
 (SELECT count(*) FILTER (WHERE a.at > %s) AS n,
         count(*) FILTER (WHERE a.at > %s AND a.amount <= %s) AS small,
         coalesce(sum(a.amount) FILTER (WHERE a.at > %s), 0) AS total
  FROM (SELECT occurred_at AS at, amount FROM ledger_journalentry
        WHERE {scope} = %s AND kind = 'charge' AND occurred_at > %s AND occurred_at <= %s
        UNION ALL
        SELECT occurred_at, amount FROM ledger_hold
        WHERE {scope} = %s AND occurred_at > %s AND occurred_at <= %s) AS a) AS v,
 (SELECT count(*) AS n, coalesce(sum(amount), 0) AS total FROM ledger_journalentry
  WHERE account_id = %s AND kind = 'charge' AND occurred_at > %s AND occurred_at <= %s) AS h
"""
_SQL_CARD = _VELOCITY.replace("{scope}", "card_id")
_SQL_ACCOUNT = _VELOCITY.replace("{scope}", "account_id")


def rules() -> dict[str, Any]:
    """Effective thresholds (:func:`fraud.rules.active_rules`: the approved rule set in force,
    else ``PREAUTH_DEFAULTS`` overridden by ``settings.FRAUD_RULES``)."""
    from fraud.rules import active_rules

    return active_rules()


def decide(request: PreauthRequest) -> PreauthDecision:
    """Approve, review or decline a charge before it is posted; reasons are stable codes.

    Decline: ``card_frozen``, ``velocity_count``, ``card_testing``. Review:
    ``velocity_amount``, ``amount_above_history``, ``merchant_risk_list``. Amounts in minor
    units, windows in seconds (history in days), as in :data:`fraud.rules.PREAUTH_DEFAULTS`.
    """
    cfg = rules()
    reasons: list[str] = []
    decline: list[str] = []
    card = request.card
    when = request.occurred_at
    if card is not None and card.status != Card.Status.ACTIVE:
        decline.append("card_frozen")
    velocity_since = when - timedelta(seconds=cfg["velocity_window_seconds"])
    testing_since = when - timedelta(seconds=cfg["card_testing_window_seconds"])
    amount_since = when - timedelta(seconds=cfg["velocity_amount_window_seconds"])
    earliest = min(velocity_since, testing_since, amount_since)
    small = cfg["card_testing_small_amount"]
    conn = _connection()
    # Raw SQL gets the values as the ORM would send them (SQLite, the demo database, stores
    # UUIDs as 32 hex characters and datetimes as text; PostgreSQL takes them as they are).
    uuid_field = JournalEntry._meta.get_field("id")

    def u(value: Any) -> Any:
        return uuid_field.get_db_prep_value(value, conn)

    def t(value: Any) -> Any:
        return conn.ops.adapt_datetimefield_value(value)

    scope_id = u(card.pk if card is not None else request.account.pk)
    with conn.cursor() as cur:
        cur.execute(_SQL_CARD if card is not None else _SQL_ACCOUNT, [
            t(velocity_since), t(testing_since), small, t(amount_since),
            scope_id, t(earliest), t(when), scope_id, t(earliest), t(when),
            u(request.account.pk), t(when - timedelta(days=cfg["history_days"])), t(when)])
        n, small_n, total, hist_n, hist_total = cur.fetchone()
    if n + 1 > cfg["velocity_max_count"]:
        decline.append("velocity_count")
    if request.amount <= small and small_n + 1 > cfg["card_testing_max_small"]:
        decline.append("card_testing")
    if total + request.amount > cfg["velocity_max_amount"]:
        reasons.append("velocity_amount")
    if (
        hist_n >= cfg["history_min_count"]
        and request.amount >= cfg["history_min_amount"]
        and request.amount > cfg["history_ratio"] * (float(hist_total) / hist_n)
    ):
        reasons.append("amount_above_history")
    if request.merchant and request.merchant in cfg["risky_merchants"]:
        reasons.append("merchant_risk_list")
    if decline:
        return PreauthDecision(decision=DECLINE, reasons=decline + reasons)
    if reasons:
        return PreauthDecision(decision=REVIEW, reasons=reasons)
    return PreauthDecision(decision=APPROVE, reasons=[])


def _connection() -> Any:
    from django.db import connections

    return connections[JournalEntry.objects.db]
