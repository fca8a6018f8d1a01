"""Credit applications, their decisions and the maker-checker requests (issue 10, items 1-2).

Money fields are integers of minor units of the row's ISO 4217 ``currency``. Personal data
(date of birth, national id, the decision's canonical inputs) is AES-256-GCM under the
applicant's own data key (``accounts.vault.seal``), bound to table, column and row, exactly as
``CustomerProfile`` stores it; erasing the customer (crypto-shredding) makes it unreadable.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.maker_checker import MakerCheckerRequest

__all__ = ["CreditApplication", "CreditDecision", "CreditChangeRequest"]


class Outcome(models.TextChoices):
    APPROVE = "approve"
    DECLINE = "decline"
    REFER = "refer"


class CreditApplication(models.Model):
    """One application for a credit line, with the consent it was made under.

    ``status`` is the outcome of the latest decision (``submitted`` before the first one).
    ``history`` is the snapshot of the platform's own alternative data taken when the
    application was made (repayment status, bills and payments per month in the model's raw
    layout, utilization, tenure; docs/credit.md "Alternative data"), so that every decision on
    this application, and its replay, reads the same inputs.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted"
        APPROVED = "approved"
        DECLINED = "declined"
        REFERRED = "referred"

    class Employment(models.TextChoices):
        EMPLOYED = "employed"
        SELF_EMPLOYED = "self_employed"
        UNEMPLOYED = "unemployed"
        RETIRED = "retired"
        STUDENT = "student"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="credit_applications")
    account = models.ForeignKey("accounts.CreditAccount", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="credit_applications",
                                help_text="The applicant's account whose history was used.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUBMITTED)
    currency = models.CharField(max_length=3)
    requested_limit = models.BigIntegerField()
    monthly_income = models.BigIntegerField()
    monthly_obligations = models.BigIntegerField()
    employment_status = models.CharField(max_length=20, choices=Employment.choices)
    employment_months = models.PositiveIntegerField(default=0)
    date_of_birth_encrypted = models.BinaryField(editable=False)
    national_id_encrypted = models.BinaryField(editable=False)
    national_id_last4 = models.CharField(max_length=4, editable=False)
    consent_at = models.DateTimeField()
    consent_text_version = models.CharField(max_length=40)
    history = models.JSONField(default=dict, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(requested_limit__gt=0),
                                   name="credit_app_requested_positive"),
            models.CheckConstraint(condition=models.Q(monthly_income__gte=0),
                                   name="credit_app_income_non_negative"),
            models.CheckConstraint(condition=models.Q(monthly_obligations__gte=0),
                                   name="credit_app_obligations_non_negative"),
        ]

    def __str__(self) -> str:
        return f"application {self.id} ({self.status})"

    @property
    def latest_decision(self) -> CreditDecision | None:
        return self.decisions.order_by("-sequence").first()


class CreditDecision(models.Model):
    """One decision on an application (append-only: a new decision is a new row).

    ``source`` is ``model`` (the automated service) or ``override`` (a manual outcome approved
    by a second person, ``override_request``). ``pd`` is None when a policy rule decided before
    the model ran. ``reasons`` are adverse-action reason codes ``[{code, text, ...}]``,
    principal reasons first. ``inputs_sha256`` is SHA-256 of the canonical JSON of the inputs,
    which are kept sealed in ``inputs_encrypted`` for :func:`credit_decision_replay`.

    ``credit_account`` / ``credit_line_action`` record what an approval did to the applicant's
    credit line in the same transaction (docs/credit.md "Approval opens the credit line"):
    ``opened`` a new account with ``credit_limit``, ``raised`` an existing account's limit to it,
    or left it ``unchanged`` (the line already had at least that limit, or was closed); refer
    and decline are ``none`` with no account. The database allows at most one ``opened`` per
    application and no line action on a refer or decline.
    """

    class Source(models.TextChoices):
        MODEL = "model"
        OVERRIDE = "override"

    class LineAction(models.TextChoices):
        NONE = "none"
        OPENED = "opened"
        RAISED = "raised"
        UNCHANGED = "unchanged"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    application = models.ForeignKey(CreditApplication, on_delete=models.PROTECT,
                                    related_name="decisions")
    sequence = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    pd = models.FloatField(null=True, blank=True)
    credit_limit = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    reasons = models.JSONField(default=list)
    rule_trace = models.JSONField(default=list)
    model_name = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    policy_version = models.CharField(max_length=20)
    inputs_sha256 = models.CharField(max_length=64)
    inputs_encrypted = models.BinaryField(editable=False)
    override_request = models.OneToOneField("CreditChangeRequest", null=True, blank=True,
                                            on_delete=models.PROTECT, related_name="decision")
    credit_account = models.ForeignKey(
        "accounts.CreditAccount", null=True, blank=True, on_delete=models.PROTECT,
        related_name="credit_decisions",
        help_text="The credit line this approval opened or raised (none for refer/decline).")
    credit_line_action = models.CharField(max_length=10, choices=LineAction.choices,
                                          default=LineAction.NONE)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["application", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["application", "sequence"],
                                    name="credit_decision_sequence_unique"),
            models.CheckConstraint(condition=models.Q(credit_limit__gte=0),
                                   name="credit_decision_limit_non_negative"),
            # one application opens at most one credit line, whatever is re-decided
            models.UniqueConstraint(fields=["application"],
                                    condition=models.Q(credit_line_action="opened"),
                                    name="credit_decision_one_line_opened"),
            # only an approval acts on a line, and an action always names its account
            models.CheckConstraint(
                condition=(models.Q(credit_line_action="none", credit_account__isnull=True)
                           | (models.Q(outcome="approve", credit_account__isnull=False)
                              & ~models.Q(credit_line_action="none"))),
                name="credit_decision_line_only_on_approval"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} #{self.sequence} of {self.application_id}"


class CreditChangeRequest(MakerCheckerRequest):
    """A maker-checker request: a manual override of an application's decision, or a credit
    limit increase above the threshold. Requested by one person, approved (or rejected) by a
    different person holding ``accounts.approve_creditchangerequest``; both steps audited."""

    class Kind(models.TextChoices):
        OVERRIDE = "override"
        LIMIT_INCREASE = "limit_increase"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    application = models.ForeignKey(CreditApplication, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="change_requests")
    account = models.ForeignKey("accounts.CreditAccount", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="change_requests")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    credit_limit = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    previous_limit = models.BigIntegerField(null=True, blank=True)

    class Meta(MakerCheckerRequest.Meta):
        permissions = [("approve_creditchangerequest",
                        "Can approve credit overrides and limit increases (second person)")]
        constraints = [
            models.CheckConstraint(condition=models.Q(credit_limit__gte=0),
                                   name="credit_change_limit_non_negative"),
            MakerCheckerRequest.four_eyes("credit_change_four_eyes"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} ({self.id})"
