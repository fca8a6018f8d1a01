"""The OpenAPI document: money-moving POSTs declare Idempotency-Key, every operation has
problem+json refusals with their codes, and Swagger UI and Redoc are served offline."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

MONEY = re.compile(r"/(charges|payments|authorizations|capture|void|refunds|reversals)/$")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, op


def test_every_money_post_requires_the_idempotency_key(schema):
    money = [(m, p, op) for m, p, op in operations(schema) if m == "post" and MONEY.search(p)]
    assert len(money) >= 7
    for _, path, op in money:
        headers = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        assert headers.get("Idempotency-Key", {}).get("required") is True, path
        codes = {c for r in op["responses"].values()
                 for c in r.get("content", {}).get("application/problem+json", {})
                 .get("examples", {})}
        assert {"idempotency_key_missing", "idempotency_key_mismatch",
                "idempotency_key_in_use"} <= codes, path


def test_every_operation_documents_problem_json_refusals(schema):
    for method, path, op in operations(schema):
        problems = {status: r["content"]["application/problem+json"]
                    for status, r in op["responses"].items()
                    if status.startswith("4") and "application/problem+json"
                    in r.get("content", {})}
        assert problems, f"{method} {path} has no problem+json 4xx"
        for status, media in problems.items():
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
            for code, example in media["examples"].items():
                assert example["value"]["code"] == code
                assert example["value"]["status"] == int(status)
    assert "code" in schema["components"]["schemas"]["Problem"]["required"]


def test_business_refusal_codes_are_documented_where_they_happen(schema):
    charge = schema["paths"]["/api/v1/accounts/{account_id}/charges/"]["post"]["responses"]
    paid = charge["402"]["content"]["application/problem+json"]["examples"]
    assert {"insufficient_credit", "card_declined"} <= set(paid)
    assert "currency_mismatch" in charge["422"]["content"]["application/problem+json"][
        "examples"]
    hooks = schema["paths"]["/api/v1/webhooks/endpoints/"]["post"]["responses"]
    assert "unsafe_webhook_url" in hooks["400"]["content"]["application/problem+json"][
        "examples"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_are_served_offline(path):
    r = Client().get(path)
    assert r.status_code == 200
    html = r.content.decode()
    assert "drf_spectacular_sidecar" in html or "/static/" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
