"""POST/GET /api/v1/credit-applications/: idempotent, own only, consent required."""

from __future__ import annotations

import pytest

from accounts.credit.models import CreditApplication
from tests.credit.conftest import application_data
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/credit-applications/"


def _body(**over):
    data = application_data(**over)
    data["date_of_birth"] = data["date_of_birth"].isoformat()
    return data


def test_apply_get_a_decision_and_replay_the_key(applicant, api, idem):
    client = api(applicant)
    headers = idem()
    r = client.post(URL, _body(), format="json", **headers)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] in {"approved", "declined", "referred"}
    decision = body["decision"]
    assert decision["outcome"] in {"approve", "decline", "refer"}
    assert len(decision["inputs_sha256"]) == 64 and decision["model_version"]
    assert "national_id" not in body and "date_of_birth" not in body
    assert "A123456789" not in r.content.decode()
    again = client.post(URL, _body(), format="json", **headers)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == body["id"]
    assert CreditApplication.objects.count() == 1
    assert client.post(URL, _body(requested_limit=1), format="json",
                       **headers).status_code == 422


def test_missing_key_and_missing_consent_are_400(applicant, api, idem):
    client = api(applicant)
    assert client.post(URL, _body(), format="json").status_code == 400
    r = client.post(URL, _body(consent=False), format="json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "consent_required"
    body = _body()
    del body["consent"]
    r = client.post(URL, body, format="json", **idem())
    assert r.status_code == 400 and r.json()["code"] == "validation_error"
    for bad in ({"requested_limit": 100.5}, {"requested_limit": "1000"},
                {"consent": "true"}, {"monthly_income": -1}):
        r = client.post(URL, _body(**bad), format="json", **idem())
        assert r.status_code == 400, (bad, r.content)
    assert not CreditApplication.objects.exists()


def test_list_and_detail_are_own_only(applicant, api, idem):
    r = api(applicant).post(URL, _body(), format="json", **idem())
    app_id = r.json()["id"]
    other = CustomerFactory()
    assert api(other).get(f"{URL}{app_id}/").status_code == 404
    assert api(other).get(URL).json()["results"] == []
    assert api(applicant).get(f"{URL}{app_id}/").json()["id"] == app_id
    assert [a["id"] for a in api(applicant).get(URL).json()["results"]] == [app_id]
    assert api().get(URL).status_code == 401
    assert api(applicant).get(f"{URL}not-a-uuid/").status_code == 404
