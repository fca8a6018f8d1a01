"""django-auditlog registrations: every model that holds money, identity, credentials, roles,
rules or fraud decisions (issue 7, item 1).

Derived rows are not logged: fraud scores (recomputed from the entry), ledger account headers,
idempotency records, and the balance columns of a credit account (each balance change is a
journal entry or a hold, logged in the ledger's own append-only tables). Sensitive values are
excluded (ciphertexts, blind-index HMACs, password hashes, key hashes, TOTP secrets) or masked to
the last 4 characters (``mask_fields``, ``AUDITLOG_MASK_CALLABLE = compliance.audit.mask_last4``).

Role changes are many-to-many changes: ``User.groups`` / ``User.user_permissions`` and
``Group.permissions`` are logged as ``m2m_fields`` (and as the security event ``role.changed``,
``compliance.receivers``).

:data:`AUDITED` names each model with its options; models that other apps add later (fraud
rules, labels, credit applications, billing) are registered here when they appear:
``tests/compliance/test_audit_coverage.py`` fails for a model of accounts/ledger/fraud/compliance
that is neither registered nor listed in :data:`NOT_AUDITED` with a reason.
"""

from __future__ import annotations

from typing import Any

from auditlog.registry import auditlog
from django.apps import apps

#: ``"app_label.ModelName" -> auditlog.register options``. Models not installed are skipped.
AUDITED: dict[str, dict[str, Any]] = {
    "accounts.User": {"exclude_fields": ["password", "last_login", "token_version"],
                      "mask_fields": ["email"], "m2m_fields": {"groups", "user_permissions"}},
    "auth.Group": {"m2m_fields": {"permissions"}},
    # balances are audited by the ledger (each change is a journal entry or a hold)
    "accounts.CreditAccount": {"exclude_fields": ["posted", "pending", "updated_at"]},
    "accounts.ApiClient": {},
    "accounts.ApiKey": {"exclude_fields": ["secret_hash", "last_used_at"]},
    "accounts.Card": {"exclude_fields": ["pan_encrypted", "pan_index"]},
    "accounts.CustomerProfile": {
        "exclude_fields": ["national_id_encrypted", "national_id_index",
                           "date_of_birth_encrypted", "credit_score_encrypted"]},
    "accounts.CustomerDataKey": {"exclude_fields": ["wrapped_key"]},
    "accounts.SealedTOTPDevice": {"exclude_fields": ["key_sealed", "last_t", "drift",
                                                     "throttling_failure_timestamp",
                                                     "throttling_failure_count",
                                                     "last_used_at"]},
    "ledger.JournalEntry": {},
    "ledger.Posting": {},
    "ledger.Hold": {},
    "fraud.Alert": {},
    "fraud.RuleSet": {},  # versioned rules (maker-checker)
    "fraud.FraudLabel": {},  # fraud decisions fed back as labels
    # credit applications and decisions (accounts/credit): income and limits audited,
    # ciphertexts excluded
    "accounts.CreditApplication": {
        "exclude_fields": ["date_of_birth_encrypted", "national_id_encrypted", "history"]},
    "accounts.CreditDecision": {"exclude_fields": ["inputs_encrypted"]},
    "accounts.CreditChangeRequest": {},
    # billing (ledger/billing_models.py): APR, cycle, statements
    "ledger.BillingTerms": {"exclude_fields": ["updated_at"]},
    "ledger.BillingStatement": {},
    "ledger.BillingTermsChange": {},
    # partner webhook endpoints hold credentials (the signing secrets: excluded)
    "webhooks.WebhookEndpoint": {"exclude_fields": ["secret_encrypted",
                                                    "previous_secret_encrypted", "updated_at"]},
}

#: Models of the platform's apps deliberately not in auditlog, with the reason.
NOT_AUDITED: dict[str, str] = {
    "ledger.LedgerAccount": "header rows created once per account and currency; never changed",
    "ledger.IdempotencyRecord": "a replay cache of responses, purged after 24 h; no business state",
    "fraud.FraudScore": "derived: recomputed from the journal entry and the model version",
    "compliance.AuditEvent": "is the audit trail itself (append-only, sealed)",
    "compliance.AuditSeal": "is the seal chain itself (append-only)",
    "compliance.AuditArchive": "manifest of archived audit rows (append-only, signed)",
    "fraud.CardholderNotification": "a message to the cardholder; the alert it is about is audited",
    "fraud.FeatureEntityState": "derived: streaming feature aggregates, rebuilt from the ledger",
    "fraud.FeatureSnapshot": "derived: the features a score was computed from",
    "webhooks.OutboxMessage": "transport queue of already-committed events; no business state",
    "webhooks.WebhookEvent": "a copy of an event sent to a partner; the change it reports is "
                             "audited where it happened",
    "webhooks.WebhookDelivery": "delivery bookkeeping (status, retries); manual redelivery is "
                                "the security event webhook.redelivered",
    "webhooks.WebhookAttempt": "one HTTP attempt of a delivery (transport log)",
    "portal.PortalSession": "which session keys belong to whom (sign-out everywhere); logins and "
                            "sign-outs are security events",
}


def register_all() -> None:
    """Register the audited models once (idempotent); skips models not installed (yet)."""
    for label, options in AUDITED.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if auditlog.contains(model):
            continue
        options = dict(options)
        # concrete fields only: reverse relations would cost a query each per save
        excluded = set(options.get("exclude_fields", []))
        fields = [f.name for f in model._meta.concrete_fields if f.name not in excluded]
        auditlog.register(model, include_fields=fields, **options)
