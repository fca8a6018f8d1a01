import pytest

from tests.factories import TEST_PASSWORD, CustomerFactory, add_card

pytestmark = pytest.mark.django_db


def test_login_refresh_and_me(customer, api):
    client = api()
    r = client.post("/api/v1/auth/token/", {"username": customer.username,
                                             "password": TEST_PASSWORD}, format="json")
    assert r.status_code == 200, r.content
    tokens = r.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/api/v1/me/").json()
    assert me["username"] == customer.username and me["roles"] == ["customer"]
    r = client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert r.status_code == 200 and r.json()["refresh"] != tokens["refresh"]
    # the rotated refresh token is blacklisted
    r = client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert r.status_code == 401
    assert r["Content-Type"] == "application/problem+json"


def test_wrong_password_is_problem_json(customer, api):
    r = api().post("/api/v1/auth/token/", {"username": customer.username, "password": "nope"},
                   format="json")
    assert r.status_code == 401
    assert r.json()["code"] and r["Content-Type"] == "application/problem+json"


def test_anonymous_gets_401(api):
    r = api().get("/api/v1/accounts/")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"


def test_cardholder_sees_only_own_accounts_and_cards(customer, api):
    other = CustomerFactory()
    mine = customer.credit_accounts.get()
    theirs = other.credit_accounts.get()
    my_card, their_card = add_card(customer), add_card(other, "5500000000000004")
    client = api(customer)
    listed = client.get("/api/v1/accounts/").json()["results"]
    assert [a["id"] for a in listed] == [str(mine.pk)]
    assert {k: listed[0][k] for k in ("credit_limit", "posted", "pending", "available")} == {
        "credit_limit": 100_000, "posted": 0, "pending": 0, "available": 100_000}
    assert client.get(f"/api/v1/accounts/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/accounts/{theirs.pk}/transactions/").status_code == 404
    assert client.get(f"/api/v1/cards/{their_card.pk}/").status_code == 404
    assert client.get("/api/v1/accounts/not-a-uuid/").status_code == 404
    cards = client.get("/api/v1/cards/").json()["results"]
    assert [c["id"] for c in cards] == [str(my_card.pk)]
    assert cards[0]["bin"] == "411111" and cards[0]["last4"] == "1111"
    assert "4111111111111111" not in client.get(f"/api/v1/cards/{my_card.pk}/").content.decode()


def test_card_create_needs_key_and_never_echoes_pan(customer, api, idem):
    client = api(customer)
    body = {"account": str(customer.credit_accounts.get().pk), "pan": "5500 0000 0000 0004",
            "exp_month": 12, "exp_year": 2099}
    assert client.post("/api/v1/cards/", body, format="json").status_code == 400
    r = client.post("/api/v1/cards/", body, format="json", **idem())
    assert r.status_code == 201, r.content
    assert "5500000000000004" not in r.content.decode() and r.json()["last4"] == "0004"


def test_card_on_someone_elses_account_is_404(customer, api, idem):
    other = CustomerFactory()
    body = {"account": str(other.credit_accounts.get().pk), "pan": "5500000000000004",
            "exp_month": 12, "exp_year": 2099}
    r = api(customer).post("/api/v1/cards/", body, format="json", **idem())
    assert r.status_code == 404 and r.json()["code"] == "not_found"
