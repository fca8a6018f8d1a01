"""The maker-checker (four-eyes) request: the fields and the database rule shared by every
change that one person requests and, when the policy says so, a different person decides
(credit overrides and limit increases, billing terms changes). The admin side is
``accounts.admin.MakerCheckerActionsMixin``."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class MakerCheckerRequest(models.Model):
    """Abstract: who asked and when, why, and who decided, when and with what note.

    ``decided_by`` is empty while pending, or for a change its maker may apply alone; the
    constraint :meth:`four_eyes` (which each concrete model adds under its own name) makes the
    database refuse ``decided_by == requested_by`` whatever code writes the row."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True
        ordering = ["-requested_at", "id"]

    @staticmethod
    def four_eyes(name: str) -> models.CheckConstraint:
        """The check constraint ``name``: the decider is not the requester."""
        return models.CheckConstraint(
            condition=models.Q(decided_by__isnull=True)
            | ~models.Q(decided_by=models.F("requested_by")),
            name=name)
