"""django-auditlog registrations for the models that hold money, identity or fraud decisions.

Derived rows (fraud scores, ledger account headers) are not logged: the journal entries and
alerts they belong to are. Sensitive values are excluded (ciphertexts, blind indexes,
password hashes) or masked to the last 4 characters
(``AUDITLOG_MASK_CALLABLE = compliance.audit.mask_last4``).
"""

from __future__ import annotations

from auditlog.registry import auditlog


def register_all() -> None:
    """Register the audited models once (idempotent)."""
    from accounts.models import ApiClient, ApiKey, Card, CreditAccount, User
    from fraud.models import Alert
    from ledger.models import Hold, JournalEntry, Posting

    targets = [
        (User, {"exclude_fields": ["password", "last_login"]}),
        # balances are audited by the ledger (each change is a journal entry or a hold)
        (CreditAccount, {"exclude_fields": ["posted", "pending", "updated_at"]}),
        (ApiClient, {}),
        (ApiKey, {"exclude_fields": ["secret_hash"]}),
        (Card, {"exclude_fields": ["pan_encrypted", "pan_index"]}),
        (JournalEntry, {}),
        (Posting, {}),
        (Hold, {}),
        (Alert, {}),
    ]
    for model, options in targets:
        if not auditlog.contains(model):
            # concrete fields only: reverse relations would cost a query each per save
            excluded = set(options.get("exclude_fields", []))
            fields = [f.name for f in model._meta.concrete_fields if f.name not in excluded]
            auditlog.register(model, include_fields=fields, **options)
