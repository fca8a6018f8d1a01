"""Billing cycles: per-account billing terms and monthly statements (issue 10, items 4-6).

Imported at the end of :mod:`ledger.models` (one line), so Django sees these models in the
``ledger`` app. Amounts are integers of minor units of the statement's ISO 4217 ``currency``;
dates are calendar dates in ``settings.TIME_ZONE``. The rules (average daily balance, grace,
minimum payment, late fee, allocation, delinquency, rounding) are in :mod:`ledger.billing` and
``docs/billing.md``.
"""

from __future__ import annotations

import uuid

from django.db import models

from accounts.maker_checker import MakerCheckerRequest
from accounts.models import CreditAccount
from ledger.models import JournalEntry

__all__ = ["BillingTerms", "BillingStatement", "BillingTermsChange", "DelinquencyBucket"]


class DelinquencyBucket(models.TextChoices):
    """Days past due, in the buckets of the card industry's delinquency reporting.

    ``current``: 0-29 days past due, ``30``: 30-59, ``60``: 60-89, ``90``: 90 or more.
    """

    CURRENT = "current"
    DPD_30 = "30"
    DPD_60 = "60"
    DPD_90 = "90"


class BillingTerms(models.Model):
    """The billing terms of one credit account (created on first statement with the defaults of
    ``settings.BILLING``).

    ``apr_bps``: annual percentage rate in basis points (2499 = 24.99 %). ``cycle_day``: the day
    of the month (1-28, so every month has it) on which a billing cycle ends. Both are the terms
    of the open cycle (the one after the last statement); a change is a
    :class:`BillingTermsChange`, folded in here when the cycle it applies to begins.
    ``delinquency_bucket`` and ``days_past_due`` are as of the last statement.
    """

    account = models.OneToOneField(CreditAccount, primary_key=True, on_delete=models.PROTECT,
                                   related_name="billing_terms")
    apr_bps = models.PositiveIntegerField()
    cycle_day = models.PositiveSmallIntegerField()
    delinquency_bucket = models.CharField(max_length=10, choices=DelinquencyBucket.choices,
                                          default=DelinquencyBucket.CURRENT)
    days_past_due = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "billing terms"
        constraints = [
            models.CheckConstraint(condition=models.Q(cycle_day__gte=1, cycle_day__lte=28),
                                   name="billing_cycle_day_1_28"),
            models.CheckConstraint(condition=models.Q(apr_bps__lte=10000),
                                   name="billing_apr_at_most_100pct"),
        ]

    def __str__(self) -> str:
        return f"terms of {self.account_id}: {self.apr_bps} bps, day {self.cycle_day}"


class BillingStatement(models.Model):
    """One closed billing cycle of one credit account; exactly one per (account, period_end).

    Period: ``period_start`` .. ``period_end``, both inclusive. Balances are what the cardholder
    owes (negative: a credit balance). ``closing_balance = opening_balance + purchases -
    payments - refunds + adjustments + interest + fees``, where ``adjustments`` is the signed
    effect of reversals. ``interest`` and ``fees`` were posted at close as the journal entries
    ``interest_entry`` and ``fee_entry``. ``minimum_payment`` is due by ``due_date``; it
    includes ``past_due_amount``. ``closing_*_outstanding`` split the closing balance by the
    payment allocation order (fees, then interest, then principal).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT,
                                related_name="billing_statements")
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    opening_balance = models.BigIntegerField()
    closing_balance = models.BigIntegerField()
    purchases = models.BigIntegerField(default=0)
    payments = models.BigIntegerField(default=0)
    refunds = models.BigIntegerField(default=0)
    adjustments = models.BigIntegerField(default=0)
    interest = models.BigIntegerField(default=0)
    fees = models.BigIntegerField(default=0)
    late_fee = models.BigIntegerField(default=0)
    apr_bps = models.PositiveIntegerField()
    days_in_period = models.PositiveSmallIntegerField()
    average_daily_balance = models.BigIntegerField(default=0)
    minimum_payment = models.BigIntegerField(default=0)
    past_due_amount = models.BigIntegerField(default=0)
    due_date = models.DateField()
    paid_in_full_prior = models.BooleanField()
    days_past_due = models.PositiveIntegerField(default=0)
    delinquency_bucket = models.CharField(max_length=10, choices=DelinquencyBucket.choices,
                                          default=DelinquencyBucket.CURRENT)
    closing_fees_outstanding = models.BigIntegerField(default=0)
    closing_interest_outstanding = models.BigIntegerField(default=0)
    closing_principal = models.BigIntegerField(default=0)
    interest_entry = models.OneToOneField(JournalEntry, null=True, blank=True,
                                          on_delete=models.PROTECT,
                                          related_name="interest_statement")
    fee_entry = models.OneToOneField(JournalEntry, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="fee_statement")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_end", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period_end"],
                                    name="billing_statement_once_per_period"),
            models.CheckConstraint(condition=models.Q(period_start__lte=models.F("period_end")),
                                   name="billing_period_ordered"),
            models.CheckConstraint(condition=models.Q(minimum_payment__gte=0),
                                   name="billing_minimum_non_negative"),
        ]
        indexes = [models.Index(fields=["account", "-period_end"])]

    def __str__(self) -> str:
        # the account masked to its last 4 characters: this is the admin's page title
        return f"statement {self.period_start}..{self.period_end} of account …" \
            f"{str(self.account_id)[-4:]}"


class BillingTermsChange(MakerCheckerRequest):
    """A change of one account's APR and/or billing cycle day, made through
    ``ledger.billing.billing_terms_change`` (never in the admin's forms or ``save()``).

    ``apr_bps`` / ``cycle_day``: the new values (``None``: unchanged); ``previous_*``: the terms
    in force when it was requested. It applies from ``effective_from``, the first day of the
    first billing cycle that begins after the change was approved (docs/billing.md, "Changing
    the APR or the cycle day"), and is folded into :class:`BillingTerms` (``applied_at``) when
    the statement of the cycle before is closed. An APR increase above the configured threshold
    waits ``pending`` for a second person holding ``ledger.approve_billingtermschange``
    (maker-checker; the database refuses ``decided_by == requested_by``); other changes are
    approved at once by their maker (``decided_by`` empty).
    """

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT,
                                related_name="billing_terms_changes")
    apr_bps = models.PositiveIntegerField(null=True, blank=True)
    cycle_day = models.PositiveSmallIntegerField(null=True, blank=True)
    previous_apr_bps = models.PositiveIntegerField()
    previous_cycle_day = models.PositiveSmallIntegerField()
    effective_from = models.DateField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta(MakerCheckerRequest.Meta):
        permissions = [("approve_billingtermschange",
                        "Can approve an APR increase above the threshold (second person)")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(apr_bps__isnull=False) | models.Q(cycle_day__isnull=False),
                name="billing_terms_change_not_empty"),
            models.CheckConstraint(
                condition=models.Q(cycle_day__isnull=True)
                | models.Q(cycle_day__gte=1, cycle_day__lte=28),
                name="billing_terms_change_cycle_day_1_28"),
            models.CheckConstraint(
                condition=models.Q(apr_bps__isnull=True) | models.Q(apr_bps__lte=10000),
                name="billing_terms_change_apr_at_most_100pct"),
            MakerCheckerRequest.four_eyes("billing_terms_change_four_eyes"),
        ]
        indexes = [models.Index(fields=["account", "status", "effective_from"])]

    def __str__(self) -> str:
        return f"terms change {self.status} ({self.id})"
