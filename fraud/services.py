"""Fraud writes: scoring an entry (idempotent upsert), alerts and card freezes, the support
queue's decisions, cardholder disputes and "Was this you?" answers, and the rules'
maker-checker (``ruleset_*``).

Every write is audited in its own transaction (:func:`compliance.audit.record`); signals to
higher apps (:mod:`fraud.signals`) are sent on commit.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Card, User
from accounts.services import card_freeze
from compliance import audit
from compliance.audit import SystemActor
from creditplatform.db_routers import worker_db_alias
from creditplatform.logging import redact_text
from creditplatform.serializers import SafeTextField
from fraud import model, rules, selectors, signals
from fraud.exceptions import (
    AlertClosed,
    FraudPermissionDenied,
    InvalidRuleSet,
    NotFoundError,
    OwnAccountRefused,
    RuleSetStateError,
    SelfApprovalRefused,
    ValidationError,
)
from fraud.models import Alert, CardholderNotification, FraudLabel, FraudScore, RuleSet
from ledger.models import JournalEntry

SCORER = SystemActor("fraud_scorer")
# The journal entry columns scoring reads: the fraud worker's database role may SELECT these and
# no others (fraud/management/commands/create_fraud_db_role.py, GRANTS).
SCORED_ENTRY_FIELDS = ("id", "kind", "account", "card", "amount", "currency", "merchant",
                       "occurred_at", "created_at", "fraud_decision")
NOTE_MAX = 2000


# --- scoring ---------------------------------------------------------------------------------
def entry_score(*, entry_id: Any) -> FraudScore | None:
    """Score a charge after commit and upsert its :class:`FraudScore` (with ``latency_ms``, the
    commit-to-score time). Thresholds come from :func:`fraud.rules.active_rules`:

    - score >= ``alert_threshold``: open an :class:`Alert` (audit ``fraud.alert_opened``; the
      portal asks the cardholder "Was this you?" about it); signal ``alert_opened`` on commit;
    - score >= ``freeze_threshold`` and the charge was on an active card: also freeze the card
      (:func:`accounts.services.card_freeze`, audit ``card.frozen``), notify the cardholder
      (``card_frozen`` notification, audit ``cardholder.notified``); signal ``card_frozen`` on
      commit.

    Safe to run twice: the second run finds the score and changes nothing.
    Returns None when the entry does not exist (e.g. rolled back) or is not a charge/capture.
    """
    # As the fraud worker (fraud.tasks) this runs on its least-privilege alias: the transaction
    # and select_for_update must use the alias the router sends the queries to.
    alias = worker_db_alias()
    with transaction.atomic(using=alias):
        return _entry_score(entry_id=entry_id, alias=alias)


def _entry_score(*, entry_id: Any, alias: str) -> FraudScore | None:
    entry = JournalEntry.objects.only(*SCORED_ENTRY_FIELDS).filter(
        pk=entry_id, kind__in=[JournalEntry.Kind.CHARGE, JournalEntry.Kind.CAPTURE]).first()
    if entry is None:
        return None
    existing = FraudScore.objects.select_for_update().filter(entry=entry).first()
    if existing is not None:
        return existing
    result = model.score(entry)
    cfg = rules.active_rules()
    now = timezone.now()
    fs = FraudScore.objects.create(
        entry=entry, score=result.value, reasons=result.reasons,
        model_version=result.model_version, scored_at=now,
        latency_ms=max(0, int((now - entry.created_at).total_seconds() * 1000)),
        features=_json_features(result.features),
    )
    if result.value < cfg["alert_threshold"]:
        return fs
    alert, created = Alert.objects.get_or_create(
        entry=entry,
        defaults={"account_id": entry.account_id, "card_id": entry.card_id,
                  "score": result.value, "reasons": result.reasons},
    )
    if created:
        audit.record("fraud.alert_opened", actor=SCORER, object_type="alert",
                     object_id=alert.pk,
                     details={"entry": str(entry.pk), "score": round(result.value, 4),
                              "reasons": result.reasons, "rules_version": cfg["version"]})
        _on_commit_alert_opened(alert, alias=alias)
    if result.value >= cfg["freeze_threshold"] and entry.card_id is not None:
        _freeze_for_alert(entry=entry, alert=alert, score=result.value, alias=alias)
    return fs


def _json_features(features: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in (features or {}).items():
        try:
            out[str(k)] = round(float(v), 6)
        except (TypeError, ValueError):
            continue
    return out


def _money(amount: int, currency: str) -> str:
    """Minor units as a display string (2 decimals; display only, never arithmetic)."""
    return f"{amount / 100:.2f} {currency}"


def _freeze_for_alert(*, entry: JournalEntry, alert: Alert, score: float,
                      alias: str) -> Card | None:
    status = Card.objects.filter(pk=entry.card_id).values_list("status", flat=True).first()
    if status != Card.Status.ACTIVE:
        return None  # already frozen (or closed): nothing to do, no second notification
    card = card_freeze(actor=SCORER, card=Card(pk=entry.card_id),
                       reason=f"fraud score {score:.3f} on entry {entry.pk} (alert {alert.pk})")
    note = CardholderNotification.objects.create(
        account_id=entry.account_id, kind=CardholderNotification.Kind.CARD_FROZEN, alert=alert,
        card_id=card.pk,
        message=(f"We froze your card ending {card.last4} after a charge of "
                 f"{_money(entry.amount, entry.currency)}"
                 f"{' at ' + entry.merchant if entry.merchant else ''} that looks like fraud. "
                 "If it was you, answer \"Was this you?\" and we will review it; you can "
                 "unfreeze the card yourself once you are sure."))
    audit.record("cardholder.notified", actor=SCORER, object_type="notification",
                 object_id=note.pk,
                 details={"kind": note.kind, "card_last4": card.last4, "alert": str(alert.pk),
                          "account": str(entry.account_id)})
    card_id, alert_id = card.pk, alert.pk
    transaction.on_commit(
        lambda: signals.card_frozen.send(sender=Card, card_id=card_id, alert_id=alert_id),
        using=alias)
    return card


def _on_commit_alert_opened(alert: Alert, *, alias: str) -> None:
    alert_id, source = alert.pk, alert.source
    transaction.on_commit(
        lambda: signals.alert_opened.send(sender=Alert, alert_id=alert_id, source=source),
        using=alias)


# --- the support queue -----------------------------------------------------------------------
DECISIONS = {
    "confirm_fraud": Alert.Status.CONFIRMED_FRAUD,
    "false_positive": Alert.Status.FALSE_POSITIVE,
    "escalate": Alert.Status.ESCALATED,
}


def _clean_note(note: Any, *, required: bool = True) -> str:
    text = redact_text(str(note or "")).replace("\x00", "").strip()
    # Line breaks and tabs are fine in a note; other control, bidirectional and invisible
    # characters could disguise what an officer reads (the same set SafeTextField refuses).
    if SafeTextField._BAD.search(text.replace("\n", "").replace("\r", "").replace("\t", "")):
        raise ValidationError("Control, bidirectional and invisible characters are not allowed "
                              "in a note.", code="note_invalid_characters")
    if required and not text:
        raise ValidationError("A note is required.", code="note_required")
    if len(text) > NOTE_MAX:
        raise ValidationError(f"The note is longer than {NOTE_MAX} characters.",
                              code="note_too_long")
    return text


@transaction.atomic
def alert_decide(*, actor: User, alert_id: Any, decision: str, note: str) -> Alert:
    """A support agent's decision on an alert: ``decision`` is ``confirm_fraud``,
    ``false_positive`` (both close the alert and write a :class:`FraudLabel`
    ``source="support"``, ``known_at`` = now) or ``escalate`` (stays in the queue, no label).
    The note is mandatory and appended to ``Alert.note``; audit ``fraud.alert.decided``.

    Raises:
        FraudPermissionDenied: ``actor`` lacks ``fraud.decide_alert``.
        NotFoundError: no such alert.
        OwnAccountRefused: the alert is on ``actor``'s own account.
        AlertClosed: the alert is already confirmed fraud or a false positive.
        ValidationError: unknown decision (``invalid_decision``), blank note
            (``note_required``).
    """
    if not (getattr(actor, "is_active", False) and actor.has_perm("fraud.decide_alert")):
        raise FraudPermissionDenied("You may not decide fraud alerts.")
    status = DECISIONS.get(decision)
    if status is None:
        raise ValidationError(f"decision must be one of {sorted(DECISIONS)}.",
                              code="invalid_decision")
    text = _clean_note(note)
    from accounts.selectors import parse_uuid

    pk = parse_uuid(alert_id)
    alert = (Alert.objects.select_for_update(of=("self",)).select_related("account", "entry")
             .filter(pk=pk).first() if pk else None)
    if alert is None:
        raise NotFoundError("No such alert.")
    if alert.account.owner_id == actor.pk:
        raise OwnAccountRefused("Nobody decides an alert on their own account.")
    if alert.is_closed:
        raise AlertClosed(f"The alert is already {alert.status}.")
    now = timezone.now()
    previous = alert.status
    alert.status = status
    alert.decided_by = actor
    alert.decided_at = now
    stamp = f"[{now:%Y-%m-%d %H:%M} UTC, {actor.get_username()}, {decision}] {text}"
    alert.note = f"{alert.note}\n{stamp}".strip()
    alert.save(update_fields=["status", "decided_by", "decided_at", "note"])
    label = None
    if status in Alert.CLOSED:
        label = FraudLabel.objects.create(
            entry=alert.entry, is_fraud=status == Alert.Status.CONFIRMED_FRAUD, known_at=now,
            source=FraudLabel.Source.SUPPORT, alert=alert, created_by=actor)
    audit.record("fraud.alert.decided", actor=actor, object_type="alert", object_id=alert.pk,
                 details={"decision": decision, "from": previous, "to": status, "note": text,
                          "entry": str(alert.entry_id),
                          "label": None if label is None else label.is_fraud})
    return alert


# --- the cardholder: disputes and "Was this you?" --------------------------------------------
@transaction.atomic
def dispute_open(*, actor: User, entry_id: Any, reason: str) -> Alert:
    """"I don't recognize this charge": open a case in the support queue (the same
    :class:`Alert` queue as the scorer's, ``source="dispute"``, reason code
    ``cardholder_dispute``) for one of the actor's own charges. If the charge already has an
    alert, that alert carries the dispute (a closed one is reopened as ``escalated``); disputing
    twice returns the same case. Audit ``fraud.dispute.opened``; signal ``alert_opened`` on
    commit when a new alert was made.

    Raises:
        NotFoundError: not the actor's charge (or missing, or not a charge/capture).
        ValidationError (``reason_required``): blank reason.
    """
    entry = selectors.entry_get_for_dispute(actor=actor, entry_id=entry_id)
    text = _clean_note(reason, required=False)
    if not text:
        raise ValidationError("Tell us why you do not recognize this charge.",
                              code="reason_required")
    now = timezone.now()
    alert = Alert.objects.select_for_update(of=("self",)).filter(entry=entry).first()
    if alert is not None and alert.disputed_at is not None:
        return alert
    reopened = False
    if alert is None:
        score = FraudScore.objects.filter(entry=entry).values_list("score", flat=True).first()
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    entry=entry, account_id=entry.account_id, card_id=entry.card_id,
                    score=score or 0.0, reasons=["cardholder_dispute"],
                    source=Alert.Source.DISPUTE, dispute_reason=text, disputed_at=now)
        except IntegrityError:  # the scorer opened one at the same moment: carry it there
            alert = Alert.objects.select_for_update(of=("self",)).get(entry=entry)
        else:
            _on_commit_alert_opened(alert, alias="default")
    if alert.disputed_at is None:
        alert.dispute_reason, alert.disputed_at = text, now
        alert.reasons = [*alert.reasons, "cardholder_dispute"]
        if alert.is_closed:
            alert.status, reopened = Alert.Status.ESCALATED, True
        alert.save(update_fields=["dispute_reason", "disputed_at", "reasons", "status"])
    audit.record("fraud.dispute.opened", actor=actor, object_type="alert", object_id=alert.pk,
                 details={"entry": str(entry.pk), "reason": text, "reopened": reopened})
    return alert


@transaction.atomic
def alert_cardholder_confirm(*, actor: User, alert_id: Any, was_me: bool) -> Alert:
    """The cardholder's answer to "Was this you?" on one of their own alerts. The answer becomes
    a :class:`FraudLabel` (``source="cardholder"``, ``is_fraud = not was_me``, known now);
    "not me" on an open alert escalates it. The card is not unfrozen here: the cardholder does
    that on the card (``accounts.services.card_unfreeze``). Audit
    ``fraud.alert.cardholder_answered``.

    Raises:
        NotFoundError: not the actor's alert (or missing).
        ValidationError (``already_answered``, 409): answered before; labels are not rewritten.
    """
    if not isinstance(was_me, bool):
        raise ValidationError("was_me must be true or false.", code="validation_error")
    alert = selectors.alert_get_for_cardholder(actor=actor, alert_id=alert_id, for_update=True)
    if alert.cardholder_answer:
        raise ValidationError("This question was already answered.", code="already_answered",
                              status=409)
    now = timezone.now()
    previous = alert.status
    alert.cardholder_answer = Alert.Answer.WAS_ME if was_me else Alert.Answer.NOT_ME
    alert.answered_at = now
    if not was_me and alert.status == Alert.Status.OPEN:
        alert.status = Alert.Status.ESCALATED
    alert.save(update_fields=["cardholder_answer", "answered_at", "status"])
    FraudLabel.objects.create(entry_id=alert.entry_id, is_fraud=not was_me, known_at=now,
                              source=FraudLabel.Source.CARDHOLDER, alert=alert, created_by=actor)
    audit.record("fraud.alert.cardholder_answered", actor=actor, object_type="alert",
                 object_id=alert.pk,
                 details={"was_me": was_me, "from": previous, "to": alert.status,
                          "entry": str(alert.entry_id)})
    return alert


# --- rules: maker-checker --------------------------------------------------------------------
RULE_FIELDS = ("params", "risky_merchants", "alert_threshold", "freeze_threshold",
               "review_threshold", "decline_threshold")


def _require(actor: Any, perm: str) -> None:
    if not (getattr(actor, "is_active", False) and actor.has_perm(perm)):
        raise FraudPermissionDenied(f"You need the permission {perm}.")


def _check_values(values: dict[str, Any]) -> None:
    problems = rules.validate(**{k: values[k] for k in RULE_FIELDS})
    if problems:
        raise InvalidRuleSet("; ".join(problems), extra={"problems": problems})


def _lock_ruleset(ruleset_id: Any) -> RuleSet:
    try:
        return RuleSet.objects.select_for_update().get(pk=int(ruleset_id))
    except (TypeError, ValueError, RuleSet.DoesNotExist):
        raise NotFoundError("No such rule set.") from None


def _rules_snapshot(rs: RuleSet) -> dict[str, Any]:
    return {k: getattr(rs, k) for k in RULE_FIELDS}


@transaction.atomic
def ruleset_create_draft(*, actor: User, change_note: str = "",
                         **values: Any) -> RuleSet:
    """A new draft, starting from the rules in force (the active version, else settings) with
    ``values`` (any of ``RULE_FIELDS``; ``params`` is merged key by key) applied. Needs
    ``fraud.add_ruleset``. Audit ``fraud.rules.drafted``.

    Raises:
        FraudPermissionDenied, ValidationError (unknown field), InvalidRuleSet.
    """
    _require(actor, "fraud.add_ruleset")
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(f"unknown fields {sorted(unknown)}", code="validation_error")
    active = RuleSet.objects.filter(status=RuleSet.Status.ACTIVE).first()
    if active is not None:
        base = _rules_snapshot(active)
    else:
        s = rules.settings_rules()
        base = {"params": {k: s[k] for k in rules.PREAUTH_DEFAULTS},
                "risky_merchants": sorted(s["risky_merchants"]),
                "alert_threshold": s["alert_threshold"], "freeze_threshold": s["freeze_threshold"],
                "review_threshold": None, "decline_threshold": None}
    merged = {**base, **values, "params": {**base["params"], **(values.get("params") or {})}}
    _check_values(merged)
    rs = RuleSet.objects.create(created_by=actor, based_on=active,
                                change_note=_clean_note(change_note, required=False), **merged)
    audit.record("fraud.rules.drafted", actor=actor, object_type="ruleset", object_id=rs.pk,
                 details={"based_on": active.pk if active else None, **merged})
    return rs


@transaction.atomic
def ruleset_update(*, actor: User, ruleset_id: Any, change_note: str | None = None,
                   **values: Any) -> RuleSet:
    """Change a draft (only its maker, only while ``draft``). Audit ``fraud.rules.edited``.

    Raises:
        FraudPermissionDenied (not the maker or no ``fraud.change_ruleset``), NotFoundError,
        RuleSetStateError (not a draft: submitted, active and past versions are immutable),
        ValidationError, InvalidRuleSet.
    """
    _require(actor, "fraud.change_ruleset")
    rs = _lock_ruleset(ruleset_id)
    if rs.status != RuleSet.Status.DRAFT:
        raise RuleSetStateError(f"Rule set v{rs.pk} is {rs.status}; only drafts change.")
    if rs.created_by_id != actor.pk:
        raise FraudPermissionDenied("Only the maker edits a draft; start your own draft.")
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(f"unknown fields {sorted(unknown)}", code="validation_error")
    merged = {**_rules_snapshot(rs), **values}
    _check_values(merged)
    for k, v in merged.items():
        setattr(rs, k, v)
    if change_note is not None:
        rs.change_note = _clean_note(change_note, required=False)
    rs.save()
    audit.record("fraud.rules.edited", actor=actor, object_type="ruleset", object_id=rs.pk,
                 details=merged)
    return rs


@transaction.atomic
def ruleset_submit(*, actor: User, ruleset_id: Any) -> RuleSet:
    """The maker submits a draft for approval (``pending_approval``; no more edits).
    Audit ``fraud.rules.submitted``.

    Raises:
        FraudPermissionDenied (not the maker), NotFoundError, RuleSetStateError (not a draft).
    """
    _require(actor, "fraud.change_ruleset")
    rs = _lock_ruleset(ruleset_id)
    if rs.status != RuleSet.Status.DRAFT:
        raise RuleSetStateError(f"Rule set v{rs.pk} is {rs.status}; only drafts are submitted.")
    if rs.created_by_id != actor.pk:
        raise FraudPermissionDenied("Only the maker submits a draft.")
    rs.status = RuleSet.Status.PENDING
    rs.submitted_by, rs.submitted_at = actor, timezone.now()
    rs.save(update_fields=["status", "submitted_by", "submitted_at"])
    audit.record("fraud.rules.submitted", actor=actor, object_type="ruleset", object_id=rs.pk,
                 details={"based_on": rs.based_on_id, **_rules_snapshot(rs)})
    return rs


def _check_checker(actor: User, rs: RuleSet) -> None:
    _require(actor, "fraud.approve_ruleset")
    if rs.status != RuleSet.Status.PENDING:
        raise RuleSetStateError(f"Rule set v{rs.pk} is {rs.status}, not pending approval.")
    if actor.pk in (rs.created_by_id, rs.submitted_by_id):
        raise SelfApprovalRefused("The maker of a change cannot approve or reject it.")


@transaction.atomic
def ruleset_approve(*, actor: User, ruleset_id: Any, note: str = "") -> RuleSet:
    """A second person (``fraud.approve_ruleset``, not the maker) approves a submitted version:
    it becomes ``active`` and the previous active one ``superseded``; on commit every process
    reloads :func:`fraud.rules.active_rules`. Audit ``fraud.rules.approved``.

    Raises:
        FraudPermissionDenied, NotFoundError, RuleSetStateError (not pending, or another
        version was approved concurrently), SelfApprovalRefused.
    """
    rs = _lock_ruleset(ruleset_id)
    _check_checker(actor, rs)
    now = timezone.now()
    previous = list(RuleSet.objects.select_for_update().filter(status=RuleSet.Status.ACTIVE))
    try:
        with transaction.atomic():
            RuleSet.objects.filter(pk__in=[p.pk for p in previous]).update(
                status=RuleSet.Status.SUPERSEDED, superseded_at=now)
            rs.status = RuleSet.Status.ACTIVE
            rs.decided_by, rs.decided_at = actor, now
            rs.decision_note = _clean_note(note, required=False)
            rs.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    except IntegrityError:
        raise RuleSetStateError("Another version was approved at the same time; "
                                "reload and try again.") from None
    audit.record("fraud.rules.approved", actor=actor, object_type="ruleset", object_id=rs.pk,
                 details={"maker": str(rs.created_by_id),
                          "superseded": [p.pk for p in previous], **_rules_snapshot(rs)})
    transaction.on_commit(rules.invalidate)
    return rs


@transaction.atomic
def ruleset_reject(*, actor: User, ruleset_id: Any, note: str) -> RuleSet:
    """A second person rejects a submitted version (a note is mandatory); it never becomes
    active. Audit ``fraud.rules.rejected``.

    Raises:
        FraudPermissionDenied, NotFoundError, RuleSetStateError, SelfApprovalRefused,
        ValidationError (``note_required``).
    """
    rs = _lock_ruleset(ruleset_id)
    _check_checker(actor, rs)
    text = _clean_note(note)
    rs.status = RuleSet.Status.REJECTED
    rs.decided_by, rs.decided_at, rs.decision_note = actor, timezone.now(), text
    rs.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.record("fraud.rules.rejected", actor=actor, object_type="ruleset", object_id=rs.pk,
                 details={"maker": str(rs.created_by_id), "note": text})
    return rs


@transaction.atomic
def notification_mark_read(*, actor: User, notification_id: Any) -> CardholderNotification:
    """The cardholder has read one of their notifications (sets ``read_at`` once; idempotent).
    Not audited: display state only.

    Raises:
        NotFoundError: not the actor's notification (or missing, or a malformed id).
    """
    from accounts.selectors import parse_uuid

    pk = parse_uuid(notification_id)
    note = (selectors.notification_list_for_cardholder(actor=actor)
            .select_for_update(of=("self",)).filter(pk=pk).first() if pk else None)
    if note is None:
        raise NotFoundError("No such notification.")
    if note.read_at is None:
        note.read_at = timezone.now()
        note.save(update_fields=["read_at"])
    return note
