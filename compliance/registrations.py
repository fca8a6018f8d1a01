"""django-auditlog registrations for every model that holds money, identity or fraud decisions.

Sensitive values are excluded (ciphertexts, blind indexes, password hashes) or masked to the
last 4 characters (``AUDITLOG_MASK_CALLABLE = compliance.audit.mask_last4``).
"""

from __future__ import annotations

from auditlog.registry import auditlog


def register_all() -> None:
    """Register the audited models once (idempotent)."""
    from accounts.models import Card, CreditAccount, User
    from fraud.models import Alert, FraudScore
    from ledger.models import JournalEntry, LedgerAccount, Posting

    targets = [
        (User, {"exclude_fields": ["password", "last_login"]}),
        (CreditAccount, {}),
        (Card, {"exclude_fields": ["pan_encrypted", "pan_index"]}),
        (LedgerAccount, {}),
        (JournalEntry, {}),
        (Posting, {}),
        (Alert, {}),
        (FraudScore, {}),
    ]
    for model, options in targets:
        if not auditlog.contains(model):
            auditlog.register(model, **options)
