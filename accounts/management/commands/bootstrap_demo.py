"""``manage.py bootstrap_demo``: demo users for every role, credentials printed.

Idempotent: a second run reuses the users and prints the same credentials (kept in
``var/demo-credentials.json``, readable only by the owner). Never for production.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.models import CreditAccount, User
from compliance.audit import SystemActor

STAFF = [
    ("admin", "platform_admin", True),
    ("support", "support_agent", False),
    ("officer", "compliance_officer", False),
]
DEMO_PAN = "4111111111111111"  # the well-known Visa test number


class Command(BaseCommand):
    help = "Create demo users (platform admin, support agent, compliance officer, cardholder)."

    def handle(self, *args: Any, **opts: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("bootstrap_demo is for the embedded demo (DJANGO_DEBUG=true) only")
        actor = SystemActor("bootstrap_demo")
        path = settings.VAR_DIR / "demo-credentials.json"
        creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        for username, _, _ in [*STAFF, ("cardholder", "customer", False)]:
            creds.setdefault(username, secrets.token_urlsafe(12))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(creds, fh, indent=2)

        with transaction.atomic():
            for username, role, superuser in STAFF:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = User.objects.create_user(username=username, password=creds[username],
                                                    is_staff=True, is_superuser=superuser)
                user.groups.add(Group.objects.get(name=role))
        holder = User.objects.filter(username="cardholder").first()
        if holder is None:
            holder, account = services.customer_create(
                actor=actor, username="cardholder", password=creds["cardholder"],
                credit_limit=500_000, currency="EUR")
            services.card_create(actor=actor, account_id=account.pk, pan=DEMO_PAN,
                                 exp_month=12, exp_year=2030)
        account = CreditAccount.objects.filter(owner=holder).first()

        self.stdout.write(self.style.SUCCESS("Demo users (username / password / role):"))
        for username, role, _ in STAFF:
            self.stdout.write(f"  {username:<11} {creds[username]:<18} {role} (admin)")
        self.stdout.write(f"  {'cardholder':<11} {creds['cardholder']:<18} customer "
                          f"(API and /portal/), account {account.pk if account else '-'}")
