"""Compliance models: the append-only security event record (PCI DSS v4.0 requirement 10.2),
its seals and archives, and the officers' console proxies."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.db import models

from fraud.models import Alert
from ledger.models import JournalEntry


class AuditEvent(models.Model):
    """One security event: who (actor), what (event type), when (UTC), where from, outcome, object.

    Append-only: written only by :func:`compliance.audit.record` inside the transaction of the
    change it describes. ``details`` is redacted (no PAN, token or secret).
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True, db_index=True)
    actor_label = models.CharField(max_length=150, blank=True)
    event_type = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.event_type} {self.outcome}"


class AuditSeal(models.Model):
    """One link of the SHA-256 hash chain over an append-only table's rows.

    ``row_digests`` is ``[[row id, sha256 hex of the canonical row], ...]`` for ids
    ``first_id..last_id``; ``hash = sha256(prev_hash || each row digest)``. Changing, deleting
    or inserting a sealed row, or editing a seal, breaks a digest or the chain, and
    ``manage.py verify_audit`` names it.
    """

    id = models.BigAutoField(primary_key=True)
    table = models.CharField(max_length=64, db_index=True)
    sealed_at = models.DateTimeField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    row_digests = models.JSONField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["table", "id"]
        constraints = [
            models.UniqueConstraint(fields=["table", "first_id"], name="seal_table_first_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.table} {self.first_id}..{self.last_id} {self.hash[:12]}"


class AuditArchive(models.Model):
    """Manifest of one retention run for one sealed table: rows ``first_id..last_id`` (whole
    seals, all older than ``COMPLIANCE_RETENTION_DAYS``) were written to a signed archive file
    and then removed from the table by ``manage.py audit_retention``.

    The append-only trigger lets a row be deleted only inside that command's transaction
    (``SET LOCAL compliance.retention_prune = 'on'``) and only when an archive row covers it
    and a seal covers it. :func:`compliance.sealing.verify_chain` treats rows of an archived
    range as archived, not deleted; the seals (kept) still chain, and ``verify_archive FILE``
    checks the file's rows against the seals' digests.
    """

    id = models.BigAutoField(primary_key=True)
    table = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    first_seal = models.ForeignKey(AuditSeal, on_delete=models.PROTECT, related_name="+")
    last_seal = models.ForeignKey(AuditSeal, on_delete=models.PROTECT, related_name="+")
    cutoff = models.DateTimeField()
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["table", "first_id"]

    def __str__(self) -> str:
        return f"{self.table} {self.first_id}..{self.last_id} -> {self.file_name}"


# --- the officers' console: read-only admin views of other apps' rows (compliance/admin.py) ---
# Proxies (no table): their admins live here with the officers' filters, search and CSV export;
# access is by the concrete model's view permission (compliance.admin.OfficerAdminMixin).


class OfficerLogEntry(LogEntry):
    """django-auditlog's model change entries, as the officers' console lists them."""

    class Meta:
        proxy = True
        verbose_name = "model change (auditlog)"
        verbose_name_plural = "model changes (auditlog)"
        default_permissions = ()


class OfficerJournalEntry(JournalEntry):
    """Journal entries, as the officers' console lists them."""

    class Meta:
        proxy = True
        verbose_name = "journal entry (officer view)"
        verbose_name_plural = "journal entries (officer view)"
        default_permissions = ()


class OfficerAlert(Alert):
    """Fraud alerts, as the officers' console lists them."""

    class Meta:
        proxy = True
        verbose_name = "fraud alert (officer view)"
        verbose_name_plural = "fraud alerts (officer view)"
        default_permissions = ()
