import io

import pytest
from django.core.management import call_command

from accounts.models import CreditAccount

pytestmark = pytest.mark.django_db


def test_create_customer_prints_account_id():
    out = io.StringIO()
    call_command("create_customer", "--username", "ann", "--password", "pw-9f8e7d6c",
                 "--credit-limit", "50000", "--currency", "USD", stdout=out)
    account = CreditAccount.objects.get(pk=out.getvalue().strip())
    assert (account.owner.username, account.credit_limit, account.currency) == ("ann", 50000, "USD")
    assert account.owner.check_password("pw-9f8e7d6c")


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "usd"])
def test_create_customer_refuses_a_code_outside_iso_4217(currency):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="ISO 4217"):
        call_command("create_customer", "--username", "bob", "--password", "pw-9f8e7d6c",
                     "--credit-limit", "50000", "--currency", currency, stdout=io.StringIO())
    assert not CreditAccount.objects.filter(owner__username="bob").exists()
