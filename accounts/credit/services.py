"""Writes of credit applications, decisions and maker-checker requests (issue 10, items 1-2).

Every write is audited (``compliance.audit.record``) in its own transaction. Services are
``@transaction.atomic`` (not durable): the API's idempotency layer owns the outer durable
transaction (README "departs from the design").

An approval acts on the applicant's credit line in the decision's transaction (docs/credit.md
"Approval opens the credit line"): it opens one (``accounts.services.credit_account_create``)
or raises the limit of the one the applicant has, exactly once per application.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.credit import history as alt_data
from accounts.credit import pd_model, policy
from accounts.credit.models import CreditApplication, CreditChangeRequest, CreditDecision
from accounts.models import CreditAccount, CustomerProfile, User
from accounts.vault import seal, unseal
from compliance import audit
from creditplatform import crypto
from creditplatform.errors import ApplicationError, ValidationError

#: Consent texts the applicant may accept; the version is stored with the application.
CONSENT_TEXTS: dict[str, str] = {
    "2026-11": "I agree that the platform processes the data in this application and my "
               "account history with it to decide on credit, and keeps the decision and its "
               "reasons as the law requires.",
}
CURRENT_CONSENT_VERSION = "2026-11"
#: A limit increase larger than this (minor units) needs a second person; smaller ones are
#: applied by one holder of ``accounts.add_creditchangerequest``. Setting
#: ``CREDIT_LIMIT_FOUR_EYES_THRESHOLD`` overrides it.
FOUR_EYES_THRESHOLD = 100_000
APP_TABLE = CreditApplication._meta.db_table
DECISION_TABLE = CreditDecision._meta.db_table
OUTCOME_TO_STATUS = {policy.APPROVE: CreditApplication.Status.APPROVED,
                     policy.DECLINE: CreditApplication.Status.DECLINED,
                     policy.REFER: CreditApplication.Status.REFERRED}


class ConsentRequired(ValidationError):
    """The applicant did not consent (or to an unknown text version): 400."""

    code = "consent_required"
    title = "Consent required"


class CreditPermissionDenied(ApplicationError):
    """The actor lacks the permission for this credit operation: 403."""

    status = 403
    code = "permission_denied"
    title = "Permission denied"


class SelfApprovalRefused(ApplicationError):
    """Maker-checker: the requester cannot approve their own request: 403."""

    status = 403
    code = "self_approval_refused"
    title = "Self-approval refused"


class RequestNotPending(ApplicationError):
    """The change request was already approved or rejected: 409."""

    status = 409
    code = "request_not_pending"
    title = "Request not pending"


class ReplayMismatch(ApplicationError):
    """A stored decision's inputs no longer hash to the stored digest: 409."""

    status = 409
    code = "decision_inputs_tampered"
    title = "Decision inputs do not match their hash"


def four_eyes_threshold() -> int:
    return int(getattr(settings, "CREDIT_LIMIT_FOUR_EYES_THRESHOLD", FOUR_EYES_THRESHOLD))


def _require(actor: Any, perm: str) -> None:
    if not getattr(actor, "has_perm", lambda p: False)(perm):
        raise CreditPermissionDenied(f"This needs the permission {perm}.")


def _seal_app(app: CreditApplication, column: str, value: str) -> bytes:
    return seal(app.applicant, value, table=APP_TABLE, column=column, row_id=app.pk)


@transaction.atomic
def credit_application_create(
    *, actor: Any, applicant: User, currency: str, requested_limit: int, monthly_income: int,
    monthly_obligations: int, employment_status: str, employment_months: int = 0,
    date_of_birth: dt.date, national_id: str, consent: bool, consent_text_version: str,
    decide: bool = True,
) -> CreditApplication:
    """Record an application (personal data sealed under the applicant's key), snapshot the
    alternative data of the applicant's account in ``currency`` (or a thin file), and decide.

    Money in minor units of ``currency``. Raises:
        ConsentRequired: ``consent`` is not True or the text version is unknown.
        policy.InvalidDateOfBirth: a date of birth in the future, before 1900-01-01 or more
            than 130 years ago (400 ``invalid_date_of_birth``).
        ValidationError: non-positive requested limit, negative income/obligations, an
            unknown employment status or a malformed national id.
    """
    if consent is not True or consent_text_version not in CONSENT_TEXTS:
        raise ConsentRequired("Consent to the current consent text is required.",
                              extra={"consent_text_version": CURRENT_CONSENT_VERSION})
    if requested_limit <= 0:
        raise ValidationError("requested_limit must be a positive number of minor units.")
    if monthly_income < 0 or monthly_obligations < 0:
        raise ValidationError("monthly_income and monthly_obligations cannot be negative.")
    if employment_status not in CreditApplication.Employment.values:
        raise ValidationError("Unknown employment_status.")
    policy.date_of_birth_check(date_of_birth, today=timezone.now().date())
    nid = national_id.strip().upper()
    if not 4 <= len(nid) <= 32 or not nid.isascii() or not nid.isalnum():
        raise ValidationError("national_id must be 4-32 letters or digits.")
    account = (CreditAccount.objects.filter(owner=applicant, currency=currency)
               .exclude(status=CreditAccount.Status.CLOSED).order_by("created_at").first())
    today = timezone.now().date()
    snapshot = (alt_data.account_history(account=account, as_of=today) if account
                else alt_data.thin_file(requested_limit=requested_limit, currency=currency))
    app = CreditApplication(
        applicant=applicant, account=account, currency=currency,
        requested_limit=requested_limit, monthly_income=monthly_income,
        monthly_obligations=monthly_obligations, employment_status=employment_status,
        employment_months=employment_months, national_id_last4=nid[-4:],
        consent_at=timezone.now(), consent_text_version=consent_text_version,
        history=snapshot,
    )
    app.date_of_birth_encrypted = _seal_app(app, "date_of_birth", date_of_birth.isoformat())
    app.national_id_encrypted = _seal_app(app, "national_id", nid)
    app.save()
    audit.record("credit.application_created", actor=actor, object_type="credit_application",
                 object_id=app.pk, details={"requested_limit": requested_limit,
                                            "currency": currency,
                                            "consent_text_version": consent_text_version,
                                            "history_source": snapshot["source"]})
    if decide:
        credit_application_decide(actor=actor, application=app)
    return app


def _identity_verified(app: CreditApplication, nid: str) -> bool:
    """Verified when the applicant's KYC profile holds the same national id (blind index)."""
    profile = CustomerProfile.objects.filter(user=app.applicant).first()
    return bool(profile and profile.national_id_index and
                profile.national_id_index == crypto.blind_index(nid, purpose="national_id"))


def application_inputs(app: CreditApplication, *, as_of: dt.date) -> dict[str, Any]:
    """The canonical decision inputs of ``app`` on ``as_of`` (what is hashed and sealed)."""
    dob = unseal(app.applicant, bytes(app.date_of_birth_encrypted), table=APP_TABLE,
                 column="date_of_birth", row_id=app.pk)
    nid = unseal(app.applicant, bytes(app.national_id_encrypted), table=APP_TABLE,
                 column="national_id", row_id=app.pk)
    return {
        "mode": "api", "as_of": as_of.isoformat(), "application": str(app.pk),
        "currency": app.currency, "requested_limit": app.requested_limit,
        "monthly_income": app.monthly_income, "monthly_obligations": app.monthly_obligations,
        "employment_status": app.employment_status,
        "employment_months": app.employment_months, "date_of_birth": dob,
        "identity_verified": _identity_verified(app, nid),
        "history": {k: v for k, v in app.history.items()},
        "policy_version": policy.POLICY_VERSION,
    }


def _store(*, actor: Any, app: CreditApplication, result: policy.Result,
           inputs: dict[str, Any], source: str,
           request: CreditChangeRequest | None = None) -> CreditDecision:
    sequence = (app.decisions.count()) + 1
    principal = audit_principal(actor)
    decision = CreditDecision(
        application=app, sequence=sequence, source=source, outcome=result.outcome,
        pd=result.pd, credit_limit=result.credit_limit, currency=app.currency,
        reasons=result.reasons, rule_trace=result.rule_trace,
        model_name=pd_model.MODEL_NAME if result.model_version else "",
        model_version=result.model_version, model_sha256=result.model_sha256,
        policy_version=policy.POLICY_VERSION, inputs_sha256=policy.inputs_sha256(inputs),
        override_request=request, actor_type=principal[0], actor_id=principal[1],
        decided_at=timezone.now(),
    )
    decision.inputs_encrypted = seal(app.applicant, policy.canonical_json(inputs).decode(),
                                     table=DECISION_TABLE, column="inputs",
                                     row_id=decision.pk)
    if decision.outcome == policy.APPROVE:
        decision.credit_account, decision.credit_line_action = _credit_line(
            actor=actor, app=app, decision=decision)
    decision.save()
    app.status = OUTCOME_TO_STATUS[result.outcome]
    app.save(update_fields=["status"])
    audit.record("credit.decided", actor=actor, object_type="credit_application",
                 object_id=app.pk,
                 details={"decision": str(decision.pk), "sequence": sequence, "source": source,
                          "outcome": result.outcome, "pd": result.pd,
                          "credit_limit": result.credit_limit,
                          "reasons": [r["code"] for r in result.reasons],
                          "model_version": result.model_version,
                          "inputs_sha256": decision.inputs_sha256,
                          "credit_account": (str(decision.credit_account_id)
                                             if decision.credit_account_id else None),
                          "credit_line": decision.credit_line_action})
    return decision


def _credit_line(*, actor: Any, app: CreditApplication,
                 decision: CreditDecision) -> tuple[CreditAccount, str]:
    """Act on the applicant's credit line for an approval of ``decision.credit_limit``.

    The line is, in order: the account an earlier decision of this application opened or
    raised; else the applicant's oldest open (not closed) account in the application's
    currency; else none, and one is opened through ``credit_account_create`` (audited
    ``account.opened``). An existing line is raised to the approved limit when that is higher
    (audited ``account.limit_changed``), never lowered, and a frozen or closed one is left alone
    (a freeze, by billing's delinquency rule or an operator, is not lifted by an approval).
    Locks the applicant's user row first, so concurrent decisions of one applicant (this application
    or another) run one after the other and never open two lines; the unique constraint
    ``credit_decision_one_line_opened`` is the last line of defence.
    """
    list(User.objects.select_for_update().filter(pk=app.applicant_id).values_list("pk"))
    accounts = CreditAccount.objects.select_for_update()
    earlier = (CreditDecision.objects.filter(application=app, credit_account__isnull=False)
               .order_by("sequence").values_list("credit_account_id", flat=True).first())
    account = (accounts.get(pk=earlier) if earlier is not None else
               accounts.filter(owner_id=app.applicant_id, currency=app.currency)
               .exclude(status=CreditAccount.Status.CLOSED).order_by("created_at", "id").first())
    line = CreditDecision.LineAction
    if account is None:
        return account_services.credit_account_create(
            actor=actor, owner=app.applicant, credit_limit=decision.credit_limit,
            currency=app.currency), line.OPENED
    if account.status != CreditAccount.Status.ACTIVE \
            or decision.credit_limit <= account.credit_limit:
        return account, line.UNCHANGED
    _apply_limit(actor=actor, account=account, new_limit=decision.credit_limit,
                 cause={"application": str(app.pk), "decision": str(decision.pk)})
    return account, line.RAISED


def audit_principal(actor: Any) -> tuple[str, str, str]:
    return getattr(actor, "audit_principal", ("unknown", "", ""))


@transaction.atomic
def credit_application_decide(*, actor: Any, application: CreditApplication,
                              registry: str | None = None) -> CreditDecision:
    """Run the policy rules, the PD model and the limit policy on ``application`` and store
    the decision (model version, SHA-256 of the canonical inputs, reasons), audited.

    Raises:
        CustomerErased: the applicant's data key was destroyed.
        model_registry.ArtifactIntegrityError: the model artifact fails its checksum.
    """
    app = CreditApplication.objects.select_for_update().get(pk=application.pk)
    art = pd_model.load(registry=registry or getattr(settings, "CREDIT_MODEL_REGISTRY", None))
    inputs = application_inputs(app, as_of=timezone.now().date())
    result = policy.decide(inputs, art)
    decision = _store(actor=actor, app=app, result=result, inputs=inputs,
                      source=CreditDecision.Source.MODEL)
    application.status = app.status
    return decision


@dataclass(frozen=True)
class Replay:
    """A replay: ``same`` when outcome, PD, limit and reason codes all match."""

    decision: CreditDecision
    stored: dict[str, Any]
    replayed: dict[str, Any]

    @property
    def same(self) -> bool:
        return self.stored == self.replayed


def credit_decision_replay(*, decision: CreditDecision,
                           registry: str | None = None) -> Replay:
    """Recompute a stored decision from its sealed inputs with the model version it used.

    Raises:
        ReplayMismatch: the sealed inputs do not hash to ``inputs_sha256``.
        model_registry.RegistryError / ArtifactIntegrityError: the model version is gone or
            altered.
    """
    app = decision.application
    raw = unseal(app.applicant, bytes(decision.inputs_encrypted), table=DECISION_TABLE,
                 column="inputs", row_id=decision.pk)
    inputs = json.loads(raw)
    if policy.inputs_sha256(inputs) != decision.inputs_sha256:
        raise ReplayMismatch("The decision's inputs do not match their stored hash.")
    stored = {"outcome": decision.outcome, "pd": decision.pd,
              "credit_limit": decision.credit_limit,
              "reasons": [r["code"] for r in decision.reasons]}
    if decision.source == CreditDecision.Source.OVERRIDE:
        req = decision.override_request
        replayed = {"outcome": req.outcome, "pd": decision.pd,
                    "credit_limit": req.credit_limit,
                    "reasons": [r["code"] for r in decision.reasons]}
        return Replay(decision, stored, replayed)
    art = pd_model.load(registry=registry or getattr(settings, "CREDIT_MODEL_REGISTRY", None),
                        version=decision.model_version or None)
    result = policy.decide(inputs, art)
    replayed = {"outcome": result.outcome, "pd": result.pd, "credit_limit": result.credit_limit,
                "reasons": [r["code"] for r in result.reasons]}
    return Replay(decision, stored, replayed)


# --- maker-checker ------------------------------------------------------------------------

@transaction.atomic
def credit_override_request(*, actor: Any, application: CreditApplication, outcome: str,
                            credit_limit: int, reason: str) -> CreditChangeRequest:
    """Ask for a manual outcome on ``application`` (always needs a second person).

    Raises:
        CreditPermissionDenied: no ``accounts.add_creditchangerequest``.
        ValidationError: unknown outcome, negative limit, an approval without a limit, an
            empty reason.
    """
    _require(actor, "accounts.add_creditchangerequest")
    if outcome not in OUTCOME_TO_STATUS:
        raise ValidationError("outcome must be approve, decline or refer.")
    if credit_limit < 0 or (outcome == policy.APPROVE) != (credit_limit > 0):
        raise ValidationError("An approval needs a positive limit; other outcomes limit 0.")
    if not reason.strip():
        raise ValidationError("A reason is required.")
    req = CreditChangeRequest.objects.create(
        kind=CreditChangeRequest.Kind.OVERRIDE, application=application, outcome=outcome,
        credit_limit=credit_limit, currency=application.currency, reason=reason.strip(),
        requested_by=actor)
    audit.record("credit.override_requested", actor=actor, object_type="credit_change_request",
                 object_id=req.pk, details={"application": str(application.pk),
                                            "outcome": outcome, "credit_limit": credit_limit})
    return req


@transaction.atomic
def credit_limit_increase_request(*, actor: Any, account: CreditAccount, new_limit: int,
                                  reason: str) -> CreditChangeRequest:
    """Raise ``account``'s limit to ``new_limit`` (minor units). An increase up to
    :func:`four_eyes_threshold` is applied at once; a larger one waits for a second person.

    Raises:
        CreditPermissionDenied, ValidationError (not an increase, empty reason).
    """
    _require(actor, "accounts.add_creditchangerequest")
    if not reason.strip():
        raise ValidationError("A reason is required.")
    locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
    if new_limit <= locked.credit_limit:
        raise ValidationError("new_limit must be above the current limit.")
    req = CreditChangeRequest.objects.create(
        kind=CreditChangeRequest.Kind.LIMIT_INCREASE, account=locked, credit_limit=new_limit,
        currency=locked.currency, previous_limit=locked.credit_limit, reason=reason.strip(),
        requested_by=actor)
    audit.record("credit.limit_increase_requested", actor=actor,
                 object_type="credit_change_request", object_id=req.pk,
                 details={"account": str(locked.pk), "from": locked.credit_limit,
                          "to": new_limit, "threshold": four_eyes_threshold()})
    if new_limit - locked.credit_limit <= four_eyes_threshold():
        _apply_limit(actor=actor, account=locked, new_limit=new_limit,
                     cause={"request": str(req.pk)})
        req.status = CreditChangeRequest.Status.APPROVED
        req.decided_at = timezone.now()
        req.decision_note = "within the single-person threshold"
        req.save(update_fields=["status", "decided_at", "decision_note"])
    return req


def _apply_limit(*, actor: Any, account: CreditAccount, new_limit: int,
                 cause: dict[str, str]) -> None:
    """Set the locked ``account``'s limit to ``new_limit`` (minor units); audited with what
    caused it (a change request, or an application's decision)."""
    previous = account.credit_limit
    account.credit_limit = new_limit
    account.save(update_fields=["credit_limit", "updated_at"])
    audit.record("account.limit_changed", actor=actor, object_type="credit_account",
                 object_id=account.pk, details={"from": previous, "to": new_limit, **cause})


def _pending(request_id: object) -> CreditChangeRequest:
    req = CreditChangeRequest.objects.select_for_update().get(pk=request_id)
    if req.status != CreditChangeRequest.Status.PENDING:
        raise RequestNotPending(f"The request is already {req.status}.")
    return req


def _check_checker(actor: Any, req: CreditChangeRequest) -> None:
    """Refuse a checker without the permission or who made the request. A self-approval is
    a security event, recorded in its own transaction (committed unless the caller holds an
    outer one) before the refusal."""
    _require(actor, "accounts.approve_creditchangerequest")
    if getattr(actor, "pk", None) == req.requested_by_id:
        with transaction.atomic():
            audit.record("credit.change_self_approval", actor=actor, outcome="denied",
                         object_type="credit_change_request", object_id=req.pk)
        raise SelfApprovalRefused("The requester cannot approve their own request.")


def credit_change_approve(*, actor: Any, request: CreditChangeRequest,
                          note: str = "") -> CreditChangeRequest:
    """Second person approves: the override becomes a new decision (source ``override``), or
    the limit increase is applied. Audited.

    Raises:
        CreditPermissionDenied: no ``accounts.approve_creditchangerequest``.
        SelfApprovalRefused: ``actor`` made the request.
        RequestNotPending: decided already.
    """
    _check_checker(actor, CreditChangeRequest.objects.get(pk=request.pk))
    with transaction.atomic():
        return _approve(actor=actor, request=request, note=note)


def _approve(*, actor: Any, request: CreditChangeRequest, note: str) -> CreditChangeRequest:
    req = _pending(request.pk)
    _check_checker(actor, req)
    if req.kind == CreditChangeRequest.Kind.OVERRIDE:
        app = CreditApplication.objects.select_for_update().get(pk=req.application_id)
        last = app.decisions.order_by("-sequence").first()
        inputs = (json.loads(unseal(app.applicant, bytes(last.inputs_encrypted),
                                    table=DECISION_TABLE, column="inputs", row_id=last.pk))
                  if last else application_inputs(app, as_of=timezone.now().date()))
        reasons = [] if req.outcome == policy.APPROVE else [
            {"code": "M01", "text": req.reason}]
        result = policy.Result(req.outcome, last.pd if last else None, req.credit_limit,
                               reasons, [{"rule": "manual_override", "request": str(req.pk)}],
                               last.model_version if last else "",
                               last.model_sha256 if last else "")
        _store(actor=actor, app=app, result=result, inputs=inputs,
               source=CreditDecision.Source.OVERRIDE, request=req)
    else:
        account = CreditAccount.objects.select_for_update().get(pk=req.account_id)
        _apply_limit(actor=actor, account=account, new_limit=req.credit_limit,
                     cause={"request": str(req.pk)})
    req.status = CreditChangeRequest.Status.APPROVED
    req.decided_by = actor
    req.decided_at = timezone.now()
    req.decision_note = note
    req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.record("credit.change_approved", actor=actor, object_type="credit_change_request",
                 object_id=req.pk, details={"kind": req.kind,
                                            "requested_by": str(req.requested_by_id)})
    return req


def credit_change_reject(*, actor: Any, request: CreditChangeRequest,
                         note: str = "") -> CreditChangeRequest:
    """Second person rejects; nothing changes but the request. Audited.

    Raises: as :func:`credit_change_approve`.
    """
    _check_checker(actor, CreditChangeRequest.objects.get(pk=request.pk))
    with transaction.atomic():
        return _reject(actor=actor, request=request, note=note)


def _reject(*, actor: Any, request: CreditChangeRequest, note: str) -> CreditChangeRequest:
    req = _pending(request.pk)
    _check_checker(actor, req)
    req.status = CreditChangeRequest.Status.REJECTED
    req.decided_by = actor
    req.decided_at = timezone.now()
    req.decision_note = note
    req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.record("credit.change_rejected", actor=actor, object_type="credit_change_request",
                 object_id=req.pk, details={"kind": req.kind})
    return req
