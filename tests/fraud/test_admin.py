"""The fraud admin: the support queue and case page, decisions through the service, the rules'
maker-checker buttons and the model card, for each role with its permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client, override_settings

from fraud.models import Alert, FraudLabel, RuleSet
from ledger import services as ledger
from tests.factories import CustomerFactory, UserFactory, add_card

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_otp")]


@pytest.fixture
def no_otp(settings):
    settings.ADMIN_REQUIRE_OTP = False  # the second factor is tested in tests/accounts


def staff(role: str, user=None):
    user = user or UserFactory(is_staff=True)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=role))
    return user


def web(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def alert(customer) -> Alert:
    card = add_card(customer)
    account = customer.credit_accounts.get()
    entry = ledger.charge_create(actor=customer, account_id=account.pk, amount=4_200,
                                 currency="EUR", card_id=card.pk, merchant="m-42").entry
    return Alert.objects.create(entry=entry, account=account, card=card, score=0.93,
                                reasons=["amount_above_history", "model_decline"])


def test_support_agent_works_the_queue(alert):
    agent = staff("support_agent")
    c = web(agent)
    low = Alert.objects.create(entry=ledger.charge_create(
        actor=alert.account.owner, account_id=alert.account_id, amount=100,
        currency="EUR").entry, account=alert.account, score=0.55, reasons=[])
    r = c.get("/admin/fraud/alert/?queue=open")
    assert r.status_code == 200
    body = r.content.decode()
    assert body.index(str(alert.pk)) < body.index(str(low.pk))  # riskiest first
    page = c.get(f"/admin/fraud/alert/{alert.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "411111******1111" in html and "4111111111111111" not in html
    assert "amount_above_history" in html and "model_decline" in html
    assert "What drove the score" in html and "Recent activity" in html
    assert "Contribution</th>" in html  # the model's pred_contrib rows are shown
    assert 'name="note"' in html  # the decision form
    # no note: refused, nothing changes
    r = c.post(f"/admin/fraud/alert/{alert.pk}/decide/", {"decision": "confirm_fraud",
                                                          "note": ""})
    assert r.status_code == 400
    alert.refresh_from_db()
    assert alert.status == "open"
    r = c.post(f"/admin/fraud/alert/{alert.pk}/decide/", {"decision": "confirm_fraud",
                                                          "note": "stolen card, confirmed"})
    assert r.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "confirmed_fraud" and alert.decided_by == agent
    assert FraudLabel.objects.get(entry=alert.entry).is_fraud


def test_an_agent_cannot_decide_on_their_own_account():
    holder = CustomerFactory()
    own = staff("support_agent", holder)
    account = holder.credit_accounts.get()
    entry = ledger.charge_create(actor=holder, account_id=account.pk, amount=900,
                                 currency="EUR").entry
    alert = Alert.objects.create(entry=entry, account=account, score=0.7, reasons=[])
    c = web(own)
    page = c.get(f"/admin/fraud/alert/{alert.pk}/change/")
    assert page.status_code == 200 and "your own account" in page.content.decode()
    assert 'name="note"' not in page.content.decode()
    r = c.post(f"/admin/fraud/alert/{alert.pk}/decide/", {"decision": "false_positive",
                                                          "note": "it was me"})
    assert r.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_compliance_officer_reads_but_does_not_decide(alert):
    c = web(staff("compliance_officer"))
    assert c.get("/admin/fraud/alert/").status_code == 200
    page = c.get(f"/admin/fraud/alert/{alert.pk}/change/")
    assert page.status_code == 200 and 'name="note"' not in page.content.decode()
    r = c.post(f"/admin/fraud/alert/{alert.pk}/decide/", {"decision": "false_positive",
                                                          "note": "x"})
    assert r.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"
    assert c.get("/admin/fraud/ruleset/").status_code == 200
    assert c.get("/admin/fraud/fraudlabel/").status_code == 200


def test_cardholders_do_not_reach_the_admin(alert):
    c = web(alert.account.owner)
    r = c.get(f"/admin/fraud/alert/{alert.pk}/change/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    assert c.get("/admin/fraud/fraudscore/model-card/").status_code == 302


@pytest.mark.parametrize("role", ["support_agent", "compliance_officer"])
def test_model_card_shows_the_registered_model(role):
    from fraud import ml

    meta = ml.current_model().artifact.meta
    c = web(staff(role))
    index = c.get("/admin/fraud/")
    assert index.status_code == 200 and "/admin/fraud/fraudscore/model-card/" in (
        index.content.decode())
    r = c.get("/admin/fraud/fraudscore/model-card/")
    assert r.status_code == 200
    html = r.content.decode()
    assert meta["version"] in html and meta["model_sha256"] in html and "verified now" in html
    assert f"{meta['metrics_test']['auc_roc']:.3f}" in html
    assert meta["split"]["train"][0] in html and meta["features"][0] in html
    if meta.get("pr_curve"):
        assert "<svg" in html and "<polyline" in html


@override_settings(FRAUD_MODEL_REGISTRY="/nonexistent-registry")
def test_model_card_without_a_model():
    from fraud import ml

    ml._cached.cache_clear()
    try:
        r = web(staff("support_agent")).get("/admin/fraud/fraudscore/model-card/")
    finally:
        ml._cached.cache_clear()
    assert r.status_code == 200 and "No fraud model is registered" in r.content.decode()


def test_rules_maker_checker_in_the_admin():
    maker, checker = staff("platform_admin"), staff("platform_admin")
    m = web(maker)
    add = m.get("/admin/fraud/ruleset/add/")
    assert add.status_code == 200
    r = m.post("/admin/fraud/ruleset/add/", {
        "params": '{"velocity_max_count": 4}', "risky_merchants": '["bad-terminal"]',
        "alert_threshold": "0.5", "freeze_threshold": "0.9", "review_threshold": "",
        "decline_threshold": "", "change_note": "tighter velocity"})
    assert r.status_code == 302, r.content.decode()[:2000]
    rs = RuleSet.objects.get()
    assert rs.created_by == maker and rs.status == "draft"
    assert rs.params["velocity_max_count"] == 4 and rs.params["history_days"] == 30
    # invalid values are a form error, not a new row
    bad = m.post("/admin/fraud/ruleset/add/", {
        "params": "{}", "risky_merchants": "[]", "alert_threshold": "0.9",
        "freeze_threshold": "0.5", "change_note": ""})
    assert bad.status_code == 200 and RuleSet.objects.count() == 1
    assert m.post(f"/admin/fraud/ruleset/{rs.pk}/step/submit/").status_code == 302
    m.post(f"/admin/fraud/ruleset/{rs.pk}/step/approve/")  # the maker: refused
    rs.refresh_from_db()
    assert rs.status == "pending_approval"
    page = web(checker).get(f"/admin/fraud/ruleset/{rs.pk}/change/")
    assert page.status_code == 200 and "Approve" in page.content.decode()
    r = web(checker).post(f"/admin/fraud/ruleset/{rs.pk}/step/approve/", {"note": "ok"})
    assert r.status_code == 302
    rs.refresh_from_db()
    assert rs.status == "active" and rs.decided_by == checker
    # an active version is read-only, even for its maker
    r = m.post(f"/admin/fraud/ruleset/{rs.pk}/change/", {
        "params": "{}", "risky_merchants": "[]", "alert_threshold": "0.1",
        "freeze_threshold": "0.2"})
    assert r.status_code == 403
    rs.refresh_from_db()
    assert rs.alert_threshold == 0.5


def test_support_agents_cannot_edit_rules():
    c = web(staff("support_agent"))
    assert c.get("/admin/fraud/ruleset/").status_code == 200
    assert c.get("/admin/fraud/ruleset/add/").status_code == 403
