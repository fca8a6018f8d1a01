"""The model card's precision-recall curve: computed by ``fraud_report --store-pr-curve`` into
the registry metadata (the model file and its checksum untouched) and drawn in the admin."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from creditplatform import model_registry
from fraud import ml
from fraud.management.commands.fraud_report import pr_curve
from tests.factories import UserFactory


def test_pr_curve_points_by_hand():
    curve = pr_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert curve["thresholds"] == [0.9, 0.8, 0.7, 0.1]
    assert curve["recall"] == [0.5, 0.5, 1.0, 1.0]
    assert curve["precision"] == [1.0, 0.5, 0.66667, 0.5]
    # ties form one threshold; many thresholds are thinned to the requested number of points
    assert pr_curve([1, 0], [0.5, 0.5])["precision"] == [0.5]
    many = pr_curve([i % 2 for i in range(1000)], [i / 1000 for i in range(1000)], points=50)
    assert 25 <= len(many["recall"]) <= 50 and many["recall"][-1] == 1.0
    assert many["recall"] == sorted(many["recall"])  # highest threshold first
    gaps = [b - a for a, b in zip(many["recall"], many["recall"][1:], strict=False)]
    assert max(gaps) <= 0.05  # no long jump in recall between two points


@pytest.mark.django_db
def test_store_pr_curve_then_the_card_draws_it(tmp_path, settings):
    src = ml.registry_root() / ml.MODEL_NAME
    version = model_registry.versions(root=ml.registry_root(), name=ml.MODEL_NAME)[-1]
    shutil.copytree(src / version, tmp_path / ml.MODEL_NAME / version)
    settings.FRAUD_MODEL_REGISTRY = str(tmp_path)
    settings.ADMIN_REQUIRE_OTP = False
    tx, sc = tmp_path / "t.csv", tmp_path / "s.csv"
    rows = [(1, "2018-07-25 10:00:00", 1, 1, 10.0, 1, 0.9), (2, "2018-07-25 11:00:00", 2, 1, 5.0,
            0, 0.8), (3, "2018-07-26 10:00:00", 3, 2, 7.0, 1, 0.7),
            (4, "2018-07-26 12:00:00", 4, 2, 3.0, 0, 0.1)]
    with tx.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
                    "TX_FRAUD"])
        w.writerows(r[:6] for r in rows)
    with sc.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["TRANSACTION_ID", "SCORE"])
        w.writerows((r[0], r[6]) for r in rows)
    model_sha = model_registry.sha256_file(tmp_path / ml.MODEL_NAME / version / "model.txt")
    call_command("fraud_report", "--transactions", str(tx), "--scores", str(sc),
                 "--store-pr-curve", "--json")
    meta = json.loads((tmp_path / ml.MODEL_NAME / version / "meta.json").read_text())
    assert meta["pr_curve"]["recall"] == [0.5, 0.5, 1.0, 1.0]
    assert meta["pr_curve"]["precision"] == [1.0, 0.5, 0.66667, 0.5]
    assert "4 transactions, 2 frauds" in meta["pr_curve"]["source"]
    # the model still loads: its file and checksum are untouched
    ml._cached.cache_clear()
    try:
        assert ml.load_model(root=tmp_path).artifact.sha256 == model_sha
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name="support_agent"))
        c = Client()
        c.force_login(user)
        html = c.get("/admin/fraud/fraudscore/model-card/").content.decode()
    finally:
        ml._cached.cache_clear()
    assert "<svg" in html and "<polyline" in html and "4 transactions, 2 frauds" in html
    assert "<script" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
