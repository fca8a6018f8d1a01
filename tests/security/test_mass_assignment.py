"""Mass assignment (OWASP API3:2023): server-owned fields in a request body change nothing.

Every POST of the generated schema is sent with its valid body plus fields the caller must
never set (``credit_limit``, ``status``, ``owner``, ``posted``, ``pending``, ``available``,
``id``, ``issued_for``, and a few more of the same rows), as the cardholder and as each
principal the policy lets through. The call must either be rejected (400, nothing changed) or
succeed with exactly the effect of the valid body alone: the stored values of those fields
are unchanged and new rows never take the injected values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import Card, CreditAccount, User
from ledger.models import Hold, JournalEntry
from tests.security.harness import (
    BODIES,
    CHARGE_AMOUNT,
    HOLD_AMOUNT,
    World,
    build_call,
    principal,
    schema_operations,
    send,
    snapshot,
)
from tests.security.policy import POLICY

INJECTED_ID = "0badc0de-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Effect:
    """What the valid body alone does to the owner's account and the world."""

    posted: int = 0
    pending: int = 0
    entries: tuple[str, ...] = ()  # kinds of the new journal entries
    holds: int = 0                 # new authorizations (open)
    cards: int = 0                 # new cards in the vault
    hold_status: str = "open"      # the world's authorization afterwards


EFFECTS: dict[tuple[str, str], Effect] = {
    ("POST", "/api/v1/auth/token/"): Effect(),
    ("POST", "/api/v1/auth/token/refresh/"): Effect(),
    ("POST", "/api/v1/auth/logout/"): Effect(),
    ("POST", "/api/v1/auth/logout-all/"): Effect(),
    ("POST", "/api/v1/accounts/{account_id}/charges/"): Effect(posted=1000, entries=("charge",)),
    ("POST", "/api/v1/accounts/{account_id}/payments/"):
        Effect(posted=-1000, entries=("payment",)),
    ("POST", "/api/v1/accounts/{account_id}/authorizations/"): Effect(pending=1000, holds=1),
    ("POST", "/api/v1/authorizations/{hold_id}/capture/"):
        Effect(posted=1500, pending=-HOLD_AMOUNT, entries=("capture",), hold_status="captured"),
    ("POST", "/api/v1/authorizations/{hold_id}/void/"):
        Effect(pending=-HOLD_AMOUNT, hold_status="voided"),
    ("POST", "/api/v1/cards/"): Effect(cards=1),
    ("POST", "/api/v1/transactions/{entry_id}/refunds/"):
        Effect(posted=-1000, entries=("refund",)),
    ("POST", "/api/v1/transactions/{entry_id}/reversals/"):
        Effect(posted=-CHARGE_AMOUNT, entries=("reversal",)),
    ("POST", "/api/v1/credit-applications/"): Effect(),
    ("POST", "/api/v1/webhooks/endpoints/"): Effect(),  # no money moves
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret/"): Effect(),
}


def injected(world: World, op_key: tuple[str, str]) -> dict[str, object]:
    """Server-owned fields with hostile values; an operation's own input fields are kept."""
    extra: dict[str, object] = {
        "id": INJECTED_ID,
        "owner": str(world.other.pk),
        "credit_limit": 999_999_999,
        "status": "closed",
        "posted": -777_777,
        "pending": 555_555,
        "available": 999_999_999,
        "issued_for": str(world.foreign.pk),  # a partner the owner's card is not issued for
        # more server-owned fields of the same rows
        "account": str(world.other_account.pk),
        "kind": "payment",
        "captured_amount": 1,
        "closed_at": "2000-01-01T00:00:00Z",
        "reverses": str(world.entry.pk),
        "actor_type": "system",
        "is_staff": True,
        "is_superuser": True,
    }
    legit = set(BODIES[op_key](world)) if op_key in BODIES else set()
    return {k: v for k, v in extra.items() if k not in legit}


def _cases() -> list[object]:
    cases = []
    for key in sorted(k for k in schema_operations() if k[0] == "POST"):
        roles = ["owner"]
        op = POLICY.get(key)
        if op is not None and not op.public:
            roles += [r for r in ("partner_scoped", "platform_admin") if op.expect[r].allowed]
        cases += [pytest.param(key[0], key[1], r, id=f"{key[0]} {key[1]} as {r}") for r in roles]
    return cases


@pytest.mark.parametrize(("method", "path", "role"), _cases())
def test_server_owned_fields_cannot_be_assigned(world: World, method: str, path: str,
                                                role: str) -> None:
    key = (method, path)
    assert key in POLICY, f"{key} has no access policy (tests/security/policy.py)"
    assert key in EFFECTS, f"{key}: add its expected effect to EFFECTS"
    effect, expected = EFFECTS[key], POLICY[key].expect[role]
    client = principal(role, key, world)
    call = build_call(key, world)
    body = {**(call.body or {}), **injected(world, key)}

    before = snapshot()
    account = CreditAccount.objects.get(pk=world.account.pk)
    entries_before = set(JournalEntry.objects.values_list("pk", flat=True))
    holds_before = set(Hold.objects.values_list("pk", flat=True))
    cards_before = set(Card.objects.values_list("pk", flat=True))

    response = send(client, call, body=body)

    content = response.content.decode()
    assert response.status_code in {expected.status, 400}, content[:300]
    if not 200 <= response.status_code < 300:  # rejected, or refused by the access policy
        assert snapshot() == before, f"a refused {method} {path} changed state"
        return

    # the owner's account: only the operation's own effect
    after = CreditAccount.objects.get(pk=world.account.pk)
    assert (after.owner_id, after.currency, after.credit_limit, after.status) == (
        account.owner_id, account.currency, account.credit_limit, account.status)
    assert (after.posted, after.pending) == (account.posted + effect.posted,
                                             account.pending + effect.pending)
    # everything else as it was
    others = [row for row in before["accounts"] if row[0] != world.account.pk]
    assert [row for row in snapshot()["accounts"] if row[0] != world.account.pk] == others
    assert snapshot()["users"] == before["users"], "a user's flags changed"
    old_cards = [row for row in snapshot()["cards"] if row[0] in cards_before]
    assert old_cards == before["cards"], "an existing card changed"

    # new rows take nothing from the injected fields
    actor_type = "api_client" if role.startswith("partner") else "user"
    new_entries = JournalEntry.objects.exclude(pk__in=entries_before)
    assert sorted(e.kind for e in new_entries) == sorted(effect.entries)
    for e in new_entries:
        assert e.account_id == world.account.pk and e.actor_type == actor_type
        assert e.reverses_id is None or effect.entries == ("reversal",)
    new_holds = Hold.objects.exclude(pk__in=holds_before)
    assert len(new_holds) == effect.holds
    for h in new_holds:
        assert (h.account_id, h.status, h.captured_amount, h.closed_at) == (
            world.account.pk, "open", 0, None)
    new_cards = Card.objects.exclude(pk__in=cards_before)
    assert len(new_cards) == effect.cards
    for c in new_cards:
        assert (c.account_id, c.status, c.issued_for_id) == (world.account.pk, "active", None)
    hold = Hold.objects.get(pk=world.hold.pk)
    assert hold.status == effect.hold_status
    assert hold.captured_amount == (1500 if effect.hold_status == "captured" else 0)

    for model in (CreditAccount, Card, JournalEntry, Hold, User):
        assert not model.objects.filter(pk=INJECTED_ID).exists(), model
    if response.status_code != 204 and isinstance(response.json(), dict):
        assert response.json().get("id") != INJECTED_ID
