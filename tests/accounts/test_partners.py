"""Partner API clients: hashed scoped keys, card tokens issued for them only, throttles."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts import api_clients
from accounts.models import ApiKey, Card
from ledger.models import JournalEntry
from tests.factories import ACTOR, CustomerFactory, add_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner():
    client = api_clients.api_client_create(actor=ACTOR, name="acme-pay",
                                           scopes=["charges:write", "cards:read"])
    _, key = api_clients.api_key_issue(actor=ACTOR, client=client)
    return client, key


def as_partner(api, key):
    c = api()
    c.credentials(HTTP_AUTHORIZATION=f"ApiKey {key}")
    return c


def issued_card(user, client, pan="4111111111111111"):
    card = add_card(user, pan)
    Card.objects.filter(pk=card.pk).update(issued_for=client)
    return card


def test_key_is_stored_hashed_and_shown_once(partner):
    client, key = partner
    stored = ApiKey.objects.get(client=client)
    assert key.startswith(f"cpk_{stored.prefix}_")
    secret = key.split("_", 2)[2]
    assert secret not in stored.secret_hash and len(stored.secret_hash) == 64


def test_partner_charges_only_card_tokens_issued_for_it(partner, api, idem):
    client, key = partner
    holder, other = CustomerFactory(), CustomerFactory()
    mine = issued_card(holder, client)
    not_mine = add_card(other, "5500000000000004")
    p = as_partner(api, key)
    acc = holder.credit_accounts.get()
    r = p.post(f"/api/v1/accounts/{acc.pk}/charges/",
               {"amount": 900, "currency": "EUR", "card": str(mine.pk)}, format="json", **idem())
    assert r.status_code == 201, r.content
    assert JournalEntry.objects.get().actor_type == "api_client"
    r = p.post(f"/api/v1/accounts/{other.credit_accounts.get().pk}/charges/",
               {"amount": 900, "currency": "EUR", "card": str(not_mine.pk)}, format="json",
               **idem())
    assert r.status_code == 404
    r = p.post(f"/api/v1/accounts/{acc.pk}/charges/", {"amount": 900, "currency": "EUR"},
               format="json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "card_required"
    listed = p.get("/api/v1/cards/").json()["results"]
    assert [c["id"] for c in listed] == [str(mine.pk)]
    assert p.get(f"/api/v1/cards/{not_mine.pk}/").status_code == 404


def test_partner_without_scope_is_403_and_closed_views_too(partner, api, idem):
    client, key = partner
    holder = CustomerFactory()
    card = issued_card(holder, client)
    p = as_partner(api, key)
    entry = JournalEntry.objects.none()
    r = p.post(f"/api/v1/accounts/{holder.credit_accounts.get().pk}/authorizations/",
               {"amount": 100, "currency": "EUR", "card": str(card.pk)}, format="json", **idem())
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert p.get("/api/v1/accounts/").status_code == 403
    assert p.get("/api/v1/me/").status_code == 403
    assert not entry.exists()


def test_revoked_expired_and_wrong_keys_are_401(partner, api):
    client, key = partner
    assert as_partner(api, key).get("/api/v1/cards/").status_code == 200
    prefix = key.split("_")[1]
    assert as_partner(api, f"cpk_{prefix}_wrong-secret").get("/api/v1/cards/").status_code == 401
    assert as_partner(api, "garbage").get("/api/v1/cards/").status_code == 401
    api_clients.api_key_revoke(actor=ACTOR, key=ApiKey.objects.get(prefix=prefix))
    assert as_partner(api, key).get("/api/v1/cards/").status_code == 401


def test_rotation_keeps_old_key_for_the_overlap_only(partner, api):
    client, old = partner
    _, new = api_clients.api_key_issue(actor=ACTOR, client=client, overlap_hours=24)
    assert as_partner(api, old).get("/api/v1/cards/").status_code == 200
    assert as_partner(api, new).get("/api/v1/cards/").status_code == 200
    ApiKey.objects.filter(prefix=old.split("_")[1]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert as_partner(api, old).get("/api/v1/cards/").status_code == 401
    assert as_partner(api, new).get("/api/v1/cards/").status_code == 200


def test_partner_has_its_own_throttle(api):
    client = api_clients.api_client_create(actor=ACTOR, name="slow-partner",
                                           scopes=["cards:read"], throttle_rate="3/min")
    _, key = api_clients.api_key_issue(actor=ACTOR, client=client)
    p = as_partner(api, key)
    codes = [p.get("/api/v1/cards/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = p.get("/api/v1/cards/")
    assert r.json()["code"] == "throttled" and "Retry-After" in r


def test_user_throttle(customer, api, monkeypatch):
    from accounts.throttling import PrincipalRateThrottle

    monkeypatch.setattr(PrincipalRateThrottle, "THROTTLE_RATES", {"user": "4/min"})
    client = api(customer)
    codes = [client.get("/api/v1/me/").status_code for _ in range(6)]
    assert codes == [200] * 4 + [429] * 2


def test_services_enforce_partner_scopes_too(partner):
    """Not only the view: a service called with a partner cannot reverse, nor refund without
    the refunds scope."""
    from creditplatform.errors import NotFoundError
    from ledger import services

    client, _ = partner
    holder = CustomerFactory()
    card = issued_card(holder, client)
    entry = services.charge_create(actor=client, account_id=holder.credit_accounts.get().pk,
                                   amount=500, currency="EUR", card_id=card.pk).entry
    with pytest.raises(NotFoundError):
        services.reversal_create(actor=client, entry_id=entry.pk, reason="x")
    with pytest.raises(NotFoundError):
        services.refund_create(actor=client, entry_id=entry.pk, amount=100)
    client.scopes = [*client.scopes, "refunds:write"]
    client.save()
    assert services.refund_create(actor=client, entry_id=entry.pk, amount=100).amount == 100


def test_admin_issues_rotates_and_revokes_keys(api):
    """Platform admins run key issue / rotation / revocation from the admin; the secret is
    shown once in the message and never stored."""
    from django.contrib.auth.models import Group
    from django.contrib.messages import get_messages
    from django.test import Client

    from tests.factories import UserFactory

    admin_user = UserFactory(is_staff=True)
    admin_user.groups.add(Group.objects.get(name="platform_admin"))
    client = api_clients.api_client_create(actor=ACTOR, name="acme-admin",
                                           scopes=["cards:read"])
    web = Client()
    web.force_login(admin_user)
    url = "/admin/accounts/apiclient/"
    r = web.post(url, {"action": "issue_key", "_selected_action": [str(client.pk)]})
    assert r.status_code == 302
    shown = [str(m) for m in get_messages(r.wsgi_request)]
    key = next(word for m in shown for word in m.split() if word.startswith("cpk_"))
    stored = ApiKey.objects.get(client=client)
    assert key.split("_", 2)[2] not in stored.secret_hash
    assert as_partner(api, key).get("/api/v1/cards/").status_code == 200
    web.post(url, {"action": "rotate_key", "_selected_action": [str(client.pk)]})
    assert ApiKey.objects.filter(client=client).count() == 2
    assert ApiKey.objects.get(pk=stored.pk).expires_at is not None  # old key: 24 h overlap
    web.post(url, {"action": "revoke_keys", "_selected_action": [str(client.pk)]})
    assert as_partner(api, key).get("/api/v1/cards/").status_code == 401
    assert not ApiKey.objects.filter(client=client, revoked_at__isnull=True).exists()
