"""JSON bodies are UTF-8 (RFC 8259 8.1): another declared charset is 415, never a 500."""

from __future__ import annotations

import pytest

from ledger.models import JournalEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("charset", ["rot13", "base64", "hex", "utf-7", "idna", "latin-1"])
def test_other_charsets_are_refused(customer, api, idem, charset):
    account = customer.credit_accounts.get()
    for path in ("/api/v1/auth/token/", f"/api/v1/accounts/{account.pk}/charges/"):
        r = api(customer).generic(
            "POST", path, b'{"amount": 100, "currency": "EUR"}',
            content_type=f"application/json; charset={charset}", **idem())
        assert r.status_code == 415, (path, r.status_code, r.content[:200])
        assert r["Content-Type"] == "application/problem+json"
    assert not JournalEntry.objects.exists()


def test_utf8_spelled_either_way_is_accepted(customer, api, idem):
    account = customer.credit_accounts.get()
    for charset in ("utf-8", "UTF8"):
        r = api(customer).generic(
            "POST", f"/api/v1/accounts/{account.pk}/charges/",
            b'{"amount": 100, "currency": "EUR"}',
            content_type=f"application/json; charset={charset}", **idem())
        assert r.status_code == 201, r.content[:300]
