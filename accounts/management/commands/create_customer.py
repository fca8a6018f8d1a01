"""``manage.py create_customer --username U --password P --credit-limit N --currency XXX``.

Creates a cardholder with one credit account and prints the account id (and nothing else on
stdout, so scripts can capture it).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services
from compliance.audit import SystemActor
from creditplatform.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a cardholder with one credit account; prints the account id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--credit-limit", required=True, type=int,
                            help="credit limit in minor units of the currency (e.g. cents)")
        parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            _, account = services.customer_create(
                actor=SystemActor("create_customer"), username=opts["username"],
                password=opts["password"], credit_limit=opts["credit_limit"],
                currency=opts["currency"], email=opts["email"],
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(str(account.pk))
