"""Roles are Django groups with exact model permissions (least privilege).

``ROLE_PERMISSIONS`` maps each role to ``app_label.codename`` permissions. Applied by the
data migration ``compliance/0002_roles`` and by :func:`sync_roles` (idempotent).
"""

from __future__ import annotations

from typing import Any

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Cardholders act only through the API and portal on their own objects; no admin rights.
    "customer": [],
    "support_agent": [
        "fraud.view_alert", "fraud.change_alert", "fraud.view_fraudscore",
        "accounts.view_creditaccount", "accounts.view_card", "ledger.view_journalentry",
        # fraud support queue (fraud/services.py alert_decide), labels, rules read-only
        "fraud.decide_alert", "fraud.view_fraudlabel", "fraud.view_cardholdernotification",
        "fraud.view_ruleset",
        "accounts.view_creditapplication", "accounts.view_creditdecision",
        "accounts.view_creditchangerequest",
        "ledger.view_billingstatement",  # cardholders' questions about a statement
    ],
    "compliance_officer": [
        "compliance.view_auditevent", "auditlog.view_logentry", "ledger.view_journalentry",
        "ledger.view_posting", "ledger.view_ledgeraccount", "fraud.view_alert",
        "fraud.view_fraudscore", "accounts.view_creditaccount", "accounts.view_card",
        "accounts.view_user",
        "fraud.view_ruleset", "fraud.view_fraudlabel", "fraud.view_cardholdernotification",
        "accounts.view_creditapplication", "accounts.view_creditdecision",
        "accounts.view_creditchangerequest",
        "webhooks.view_webhookendpoint", "webhooks.view_webhookdelivery",
        "ledger.view_billingstatement", "ledger.view_billingtermschange",
    ],
    "platform_admin": [
        "accounts.view_user", "accounts.add_user", "accounts.change_user",
        "accounts.view_creditaccount", "accounts.view_card", "auth.view_group",
        "ledger.view_journalentry", "fraud.view_alert",
        "ledger.refund_journalentry", "ledger.reverse_journalentry",
        "accounts.view_apiclient", "accounts.add_apiclient", "accounts.change_apiclient",
        # fraud rules maker-checker: a maker drafts and submits, ANOTHER admin approves
        "fraud.view_ruleset", "fraud.add_ruleset", "fraud.change_ruleset",
        "fraud.approve_ruleset",
        "accounts.view_creditapplication", "accounts.add_creditapplication",
        "accounts.view_creditdecision", "accounts.view_creditchangerequest",
        "accounts.add_creditchangerequest", "accounts.change_creditchangerequest",
        "accounts.approve_creditchangerequest",
        "webhooks.view_webhookendpoint", "webhooks.view_webhookevent",
        "webhooks.view_webhookdelivery", "webhooks.change_webhookdelivery",
        "webhooks.view_outboxmessage",
        # APR / cycle-day changes (ledger/billing.py): an APR increase above the threshold
        # needs ANOTHER admin's approval
        "ledger.view_billingtermschange", "ledger.add_billingtermschange",
        "ledger.approve_billingtermschange",
    ],
}


def sync_roles(group_model: Any, permission_model: Any, *, strict: bool = True) -> None:
    """Create each role group and set exactly its permissions (models may be historical).

    ``strict=False`` (inside migrations) skips permissions whose models a later migration
    creates; the ``post_migrate`` sync after every migrate completes them.

    Raises:
        LookupError: with ``strict``, a permission named here does not exist.
    """
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            perm = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is None:
                if not strict:
                    continue
                raise LookupError(f"permission {dotted} does not exist")
            wanted.append(perm)
        group.permissions.set(wanted)
