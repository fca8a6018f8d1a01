"""The officers' console in the admin (issue 7, item 4)."""

from __future__ import annotations

import csv
import hashlib
import io
import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client, override_settings

from compliance import audit, sealing
from compliance.audit import SystemActor
from compliance.models import AuditEvent
from fraud.models import Alert
from ledger import services as ledger
from tests.factories import CustomerFactory, UserFactory, add_card

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_otp")]
ACTOR = SystemActor("tests")


@pytest.fixture
def no_otp():
    with override_settings(ADMIN_REQUIRE_OTP=False):
        yield


def _staff(role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def officer():
    return _staff("compliance_officer")


@pytest.fixture
def web(officer):
    client = Client(REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="console-test")
    client.force_login(officer)
    return client


@pytest.fixture
def activity():
    """A customer with a charge, an alert on it, and some security events."""
    holder = CustomerFactory()
    account = holder.credit_accounts.get()
    card = add_card(holder)
    entry = ledger.charge_create(actor=holder, account_id=account.pk, amount=2500,
                                 currency="EUR", card_id=card.pk, merchant="m1").entry
    alert = Alert.objects.create(entry=entry, account=account, card=card, score=0.97,
                                 reasons=["amount"])
    for outcome in ("success", "denied", "denied"):
        audit.record("test.console", actor=holder, outcome=outcome, object_type="user",
                     object_id=holder.pk)
    return {"holder": holder, "account": account, "entry": entry, "alert": alert}


def _no_inline_code(html: str) -> None:
    """The admin's CSP: no inline script or style attribute without the nonce."""
    assert not re.search(r"<script(?![^>]*\bnonce=)(?![^>]*\bsrc=)", html)
    assert " style=" not in html and "javascript:" not in html


@pytest.mark.parametrize("url", [
    "/admin/compliance/auditevent/", "/admin/compliance/officerlogentry/",
    "/admin/compliance/officerjournalentry/", "/admin/compliance/officeralert/",
    "/admin/compliance/auditseal/", "/admin/compliance/auditevent/console/",
    "/admin/compliance/auditevent/report/flagged/",
    "/admin/compliance/auditevent/report/customer/",
])
def test_officer_reads_every_console_page_and_cannot_change_anything(web, activity, url):
    r = web.get(url)
    assert r.status_code == 200, url
    html = r.content.decode()
    _no_inline_code(html)
    assert "addlink" not in html and 'name="_save"' not in html


def test_read_only_for_officers(web, activity):
    alert = activity["alert"]
    assert web.get(f"/admin/compliance/officeralert/{alert.pk}/change/").status_code == 200
    r = web.post(f"/admin/compliance/officeralert/{alert.pk}/change/", {"status": "open"})
    assert r.status_code == 403
    assert web.get("/admin/compliance/auditevent/add/").status_code == 403
    event = AuditEvent.objects.first()
    assert web.post(f"/admin/compliance/auditevent/{event.pk}/delete/",
                    {"post": "yes"}).status_code == 403


def test_other_roles_do_not_get_the_console(activity):
    client = Client()
    client.force_login(_staff("support_agent"))
    for url in ("/admin/compliance/auditevent/console/",
                "/admin/compliance/auditevent/report/customer/",
                "/admin/compliance/auditevent/export.csv",
                "/admin/compliance/officerlogentry/"):
        assert client.get(url).status_code == 403, url


def test_filters_and_search(web, activity):
    holder = activity["holder"]
    r = web.get("/admin/compliance/auditevent/", {"outcome__exact": "denied",
                                                   "event_type__exact": "test.console"})
    assert r.context["cl"].result_count == 2
    r = web.get("/admin/compliance/auditevent/", {"q": holder.username})
    assert r.context["cl"].result_count >= 3
    r = web.get("/admin/compliance/officerjournalentry/", {"q": holder.username})
    assert [e.pk for e in r.context["cl"].result_list] == [activity["entry"].pk]
    r = web.get("/admin/compliance/officeralert/", {"status__exact": "open"})
    assert activity["alert"] in list(r.context["cl"].result_list)
    r = web.get("/admin/compliance/officerlogentry/", {"q": str(activity["account"].pk)})
    assert r.context["cl"].result_count >= 1


def test_csv_export_streams_the_filtered_list_and_is_an_audited_event(web, officer, activity):
    r = web.get("/admin/compliance/auditevent/export.csv",
                {"outcome__exact": "denied", "event_type__exact": "test.console"},
                HTTP_X_REQUEST_ID="export-1")
    assert r.status_code == 200 and r.streaming
    assert r["Content-Type"].startswith("text/csv")
    body = b"".join(r.streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 2 and {row["outcome"] for row in rows} == {"denied"}
    event = AuditEvent.objects.get(event_type="export.csv")
    assert event.details["rows"] == 2
    assert event.details["sha256"] == hashlib.sha256(body).hexdigest()
    assert event.actor_id == str(officer.pk) and event.request_id == "export-1"
    assert event.source_ip == "198.51.100.4" and "outcome__exact=denied" in \
        event.details["filters"]


def test_csv_export_action_of_selected_rows_and_formula_cells_neutralised(web, activity):
    holder = activity["holder"]
    audit.record("test.console", actor=holder, details={"x": "=HYPERLINK(1)"},
                 object_type="=cmd|' /C calc'!A0")
    target = AuditEvent.objects.get(object_type__startswith="=cmd")
    r = web.post("/admin/compliance/auditevent/", {
        "action": "export_csv", "_selected_action": [str(target.pk)], "index": "0"})
    body = b"".join(r.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1 and rows[0]["object_type"].startswith("'=")
    assert AuditEvent.objects.filter(event_type="export.csv").count() == 1
    assert AuditEvent.objects.filter(event_type="admin.action",
                                     details__action="export_csv").count() == 1


def test_journal_and_alert_exports(web, activity):
    for url, expected in (("/admin/compliance/officerjournalentry/export.csv",
                           str(activity["entry"].pk)),
                          ("/admin/compliance/officeralert/export.csv",
                           str(activity["alert"].pk))):
        body = b"".join(web.get(url).streaming_content).decode()
        assert expected in body
    assert AuditEvent.objects.filter(event_type="export.csv").count() == 2


@override_settings(AUDIT_SEAL_DELAY_SECONDS=0)
def test_console_shows_seal_status_and_verifies_on_demand(web, activity):
    sealing.seal_all()
    audit.record("test.unsealed", actor=ACTOR)
    r = web.get("/admin/compliance/auditevent/console/")
    html = r.content.decode()
    assert 'id="seal-status"' in html and sealing.seal_status()["compliance_auditevent"][
        "hash"] in html
    assert r.context["seals"]["tables"][0]["unsealed"] >= 1
    r = web.post("/admin/compliance/auditevent/console/", {"verify": "1"})
    assert "Verification passed" in r.content.decode()
    assert AuditEvent.objects.filter(event_type="audit.verified", outcome="success").exists()


def test_charts_are_inline_svg_with_the_counts(web, activity):
    r = web.get("/admin/compliance/auditevent/console/")
    html = r.content.decode()
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3
    events = dict(r.context["charts"].items())
    today_events = AuditEvent.objects.count()
    values = [int(v) for v in re.findall(r'data-value="(\d+)"', str(events["events"]))]
    assert values[-1] == today_events  # every event of the test happened today (UTC)
    alert_values = [int(v) for v in re.findall(r'data-value="(\d+)"', str(events["alerts"]))]
    assert alert_values[-1] == 1 and sum(alert_values) == 1
    assert 'data-label="pre-auth approve"' in str(events["decisions"])


def test_customer_report(web, activity):
    holder = activity["holder"]
    other = CustomerFactory()
    audit.record("test.other", actor=other)
    r = web.get("/admin/compliance/auditevent/report/customer/", {"customer": holder.username})
    report = r.context["report"]
    assert [e.pk for e in report["entries"]] == [activity["entry"].pk]
    assert [a.pk for a in report["alerts"]] == [activity["alert"].pk]
    assert {e.event_type for e in report["events"]} >= {"test.console", "charge.posted"}
    assert all(e.event_type != "test.other" for e in report["events"])
    r = web.get("/admin/compliance/auditevent/report/customer/",
                {"customer": str(activity["account"].pk)})
    assert r.context["report"]["customer"] == holder
    r = web.get("/admin/compliance/auditevent/report/customer/",
                {"customer": holder.username, "start": "2001-01-01", "end": "2001-01-31"})
    assert r.context["report"]["entries"] == [] and r.context["report"]["events_total"] == 0
    r = web.get("/admin/compliance/auditevent/report/customer/", {"customer": "nobody-here"})
    assert r.context["not_found"] is True


def test_flagged_report(web, activity):
    r = web.get("/admin/compliance/auditevent/report/flagged/")
    report = r.context["report"]
    assert activity["alert"] in report["alerts"]
    assert ("test.console", "denied", 2) in report["events_by_type"]
    assert all(e.outcome in ("denied", "failure") for e in report["events"])
