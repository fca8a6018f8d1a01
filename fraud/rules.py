"""The fraud rules in force: the active :class:`fraud.models.RuleSet` version, cached.

:func:`active_rules` is what pre-authorization (``fraud.preauth``) and post-commit scoring
(``fraud.services.entry_score``) read. It answers one dict::

    {
      # pre-authorization thresholds (PREAUTH_DEFAULTS' keys)
      "velocity_window_seconds": int, "velocity_max_count": int,
      "velocity_amount_window_seconds": int, "velocity_max_amount": int (minor units),
      "card_testing_window_seconds": int, "card_testing_small_amount": int (minor units),
      "card_testing_max_small": int, "history_days": int, "history_min_count": int,
      "history_ratio": float, "history_min_amount": int (minor units),
      "risky_merchants": frozenset[str],          # the terminal risk list
      # post-commit score thresholds, scores in [0, 1]
      "alert_threshold": float, "freeze_threshold": float,
      "review_threshold": float | None, "decline_threshold": float | None,  # None: model's own
      "version": int | None,                      # RuleSet pk; None = settings fallback
    }

With no active version it falls back to the settings: ``PREAUTH_DEFAULTS`` overridden by
``settings.FRAUD_RULES``, ``settings.FRAUD_ALERT_THRESHOLD`` and
``settings.FRAUD_FREEZE_THRESHOLD``.

Cost: one cache read (Redis ``GET`` of a small token) per call plus a dict copy; the database is
read only when the token changes. Approving a version sets a new token on commit
(:func:`invalidate`), so every process switches on its next call; the token also expires after
``TOKEN_TTL_SECONDS``, which bounds staleness if that cache write was lost (Redis down).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

#: The pre-authorization thresholds and their defaults (the values ``fraud.preauth`` shipped
#: with; issuer velocity / card-testing practice, Le Borgne et al. ch. 3 for the history ratio).
PREAUTH_DEFAULTS: dict[str, int | float] = {
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
}
#: Float-valued keys; every other key of PREAUTH_DEFAULTS is a positive integer.
FLOAT_PARAMS = frozenset({"history_ratio"})
#: Default freeze threshold: above the scorecard's highest signal (0.95, ``fraud.model``), so
#: only a confident model score freezes a card.
DEFAULT_FREEZE_THRESHOLD = 0.96

TOKEN_KEY = "fraud:rules:token"
TOKEN_TTL_SECONDS = 30
_NO_ACTIVE = "none"
_memo: dict[str, dict[str, Any]] = {}


def settings_rules() -> dict[str, Any]:
    """The fallback rules from settings (no active version), in :func:`active_rules`' shape."""
    overrides = dict(getattr(settings, "FRAUD_RULES", {}) or {})
    risky = overrides.pop("risky_merchants", [])
    alert = float(getattr(settings, "FRAUD_ALERT_THRESHOLD", 0.5))
    freeze = float(getattr(settings, "FRAUD_FREEZE_THRESHOLD", DEFAULT_FREEZE_THRESHOLD))
    return {**PREAUTH_DEFAULTS, **overrides, "risky_merchants": frozenset(risky),
            "alert_threshold": alert, "freeze_threshold": max(freeze, alert),
            "review_threshold": None, "decline_threshold": None, "version": None}


def ruleset_as_rules(ruleset: Any) -> dict[str, Any]:
    """A :class:`fraud.models.RuleSet` in :func:`active_rules`' shape (missing params take the
    defaults)."""
    return {**PREAUTH_DEFAULTS, **(ruleset.params or {}),
            "risky_merchants": frozenset(ruleset.risky_merchants or []),
            "alert_threshold": float(ruleset.alert_threshold),
            "freeze_threshold": float(ruleset.freeze_threshold),
            "review_threshold": ruleset.review_threshold,
            "decline_threshold": ruleset.decline_threshold,
            "version": ruleset.pk}


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache is a fast path: fall back to the database
        logger.warning("fraud rules cache unreadable; reading the database")
        return None


def _load() -> tuple[str, dict[str, Any] | None]:
    """(token, rules) from the database; rules None when no version is active."""
    from fraud.models import RuleSet

    active = RuleSet.objects.filter(status=RuleSet.Status.ACTIVE).first()
    if active is None:
        return _NO_ACTIVE, None
    stamp = active.decided_at.timestamp() if active.decided_at else 0
    return f"{active.pk}:{stamp}", ruleset_as_rules(active)


def active_rules() -> dict[str, Any]:
    """The rules in force now (see the module docstring for the shape and the cost).

    Returns a fresh dict each call (callers may change it). Reads the database on a cache miss;
    raises only what that read raises.
    """
    token = _cache_get(TOKEN_KEY)
    rules = _memo.get(token) if token is not None else None
    if rules is None and token != _NO_ACTIVE:
        token, rules = _load()
        try:
            cache.set(TOKEN_KEY, token, TOKEN_TTL_SECONDS)
        except Exception:  # noqa: BLE001 - next call reads the database again
            logger.warning("fraud rules cache unwritable")
        if rules is not None:
            if len(_memo) > 16:
                _memo.clear()
            _memo[token] = rules
    if rules is None:
        return settings_rules()  # settings may change (tests, override_settings): not memoised
    return dict(rules)


def invalidate() -> None:
    """Make every process reload the rules on its next call (called on commit of an approval).

    Sets a fresh random token; a process holding the old one misses its memo and reads the
    database. If the cache is down, the old token expires within ``TOKEN_TTL_SECONDS``.
    """
    _memo.clear()
    try:
        cache.set(TOKEN_KEY, f"reload:{uuid.uuid4().hex}", TOKEN_TTL_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("could not invalidate the fraud rules cache; it expires in %ss",
                       TOKEN_TTL_SECONDS)


def validate(*, params: dict[str, Any], risky_merchants: list[Any], alert_threshold: Any,
             freeze_threshold: Any, review_threshold: Any = None,
             decline_threshold: Any = None) -> list[str]:
    """Check a rule set's values; returns the problems (empty when valid).

    Params must be known keys with positive numbers (ints except ``FLOAT_PARAMS``); thresholds
    in [0, 1] with ``alert <= freeze`` and ``review <= decline``; merchants non-empty strings.
    """
    problems: list[str] = []
    for key, value in (params or {}).items():
        if key not in PREAUTH_DEFAULTS:
            problems.append(f"unknown parameter {key!r}")
            continue
        kind = (int, float) if key in FLOAT_PARAMS else (int,)
        if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
            what = "number" if key in FLOAT_PARAMS else "integer"
            problems.append(f"{key} must be a positive {what}")
    if not isinstance(risky_merchants, list) or not all(
            isinstance(m, str) and m.strip() for m in risky_merchants):
        problems.append("risky_merchants must be a list of non-empty strings")
    named = {"alert_threshold": alert_threshold, "freeze_threshold": freeze_threshold,
             "review_threshold": review_threshold, "decline_threshold": decline_threshold}
    for key, value in named.items():
        if value is None and key in ("review_threshold", "decline_threshold"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            problems.append(f"{key} must be a number in [0, 1]")
    if not problems:
        if freeze_threshold < alert_threshold:
            problems.append("freeze_threshold must be at least alert_threshold")
        if (review_threshold is not None and decline_threshold is not None
                and review_threshold > decline_threshold):
            problems.append("review_threshold must not exceed decline_threshold")
    return problems
