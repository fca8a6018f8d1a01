"""factory_boy factories. Objects are made through the services, as production makes them."""

from __future__ import annotations

from typing import Any

import factory

from accounts import services
from accounts.models import User
from compliance.audit import SystemActor

TEST_PASSWORD = "correct horse battery staple 42"
ACTOR = SystemActor("tests")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(TEST_PASSWORD)


class CustomerFactory(factory.Factory):
    """A cardholder made by ``customer_create``; ``credit_limit`` in minor units."""

    class Meta:
        model = dict

    username = factory.Sequence(lambda n: f"holder{n}")
    credit_limit = 100_000
    currency = "EUR"

    @classmethod
    def _create(cls, model_class: Any, **kw: Any) -> User:
        user, _ = services.customer_create(actor=ACTOR, username=kw["username"],
                                           password=TEST_PASSWORD,
                                           credit_limit=kw["credit_limit"],
                                           currency=kw["currency"])
        return user

    _build = _create


def add_card(user: User, pan: str = "4111111111111111") -> Any:
    """Put ``pan`` in the vault for ``user``'s first account."""
    account = user.credit_accounts.first()
    return services.card_create(actor=ACTOR, account_id=account.pk, pan=pan, exp_month=12,
                                exp_year=2099)
