"""credit_score_csv: the output columns, reasons on declines, protected-attribute invariance."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.credit import pd_model, policy
from accounts.credit.features import RAW_COLUMNS
from tests.credit.conftest import DATA


def _subset(path: Path, n: int, *, mutate=None, drop_target: bool = False) -> Path:
    with open(DATA, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for _, r in zip(range(n), reader, strict=False)]
        fields = [f for f in reader.fieldnames if not (drop_target and f == "DEFAULT")]
    with open(path, "w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        out.writeheader()
        for i, r in enumerate(rows):
            out.writerow(mutate(i, dict(r)) if mutate else r)
    return path


def _score(tmp_path: Path, src: Path, name: str) -> list[dict[str, str]]:
    out = tmp_path / name
    call_command("credit_score_csv", applications=src, out=out)
    with open(out, newline="") as fh:
        assert fh.readline().strip() == "ID,PD,DECISION,LIMIT,REASONS"
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def test_writes_the_columns_and_reasons_on_every_decline(tmp_path):
    rows = _score(tmp_path, _subset(tmp_path / "a.csv", 400), "s.csv")
    assert len(rows) == 400
    decisions = {r["DECISION"] for r in rows}
    assert decisions <= {"approve", "refer", "decline"} and "decline" in decisions
    for r in rows:
        pd_ = float(r["PD"])
        assert 0.0 < pd_ < 1.0
        if r["DECISION"] == "decline":
            assert r["REASONS"] and int(r["LIMIT"]) == 0
            assert all(c.startswith("R") for c in r["REASONS"].split(";"))
        if r["DECISION"] == "approve":
            assert r["REASONS"] == "" and int(r["LIMIT"]) >= 10_000


def test_target_column_is_ignored(tmp_path):
    with_target = _score(tmp_path, _subset(tmp_path / "a.csv", 150), "s1.csv")
    without = _score(tmp_path, _subset(tmp_path / "b.csv", 150, drop_target=True), "s2.csv")
    flipped = _score(tmp_path, _subset(tmp_path / "c.csv", 150, mutate=lambda i, r: {
        **r, "DEFAULT": str(1 - int(r["DEFAULT"]))}), "s3.csv")
    assert with_target == without == flipped


def test_sex_marriage_age_education_do_not_change_any_decision(tmp_path):
    """Every protected (and proxy) column changed on every row: identical PD, decision, limit
    and reasons. The contrast check shows the comparison would see a change."""
    base = _score(tmp_path, _subset(tmp_path / "a.csv", 300), "base.csv")

    def swap(i: int, r: dict[str, str]) -> dict[str, str]:
        return {**r, "SEX": "1" if r["SEX"] == "2" else "2", "MARRIAGE": str((i % 3) + 1),
                "AGE": str(18 + (i * 7) % 60), "EDUCATION": str((i % 4) + 1)}

    assert _score(tmp_path, _subset(tmp_path / "b.csv", 300, mutate=swap), "swap.csv") == base
    shifted = _score(tmp_path, _subset(tmp_path / "c.csv", 300, mutate=lambda i, r: {
        **r, "PAY_0": "3"}), "contrast.csv")
    assert shifted != base


def test_minor_is_declined_with_policy_reason(tmp_path):
    rows = _score(tmp_path, _subset(tmp_path / "a.csv", 5, mutate=lambda i, r: {
        **r, "AGE": "17" if i == 0 else r["AGE"]}), "s.csv")
    assert (rows[0]["DECISION"], rows[0]["REASONS"], rows[0]["LIMIT"]) == ("decline", "P01", "0")


def test_batch_scoring_agrees_with_the_decision_policy(tmp_path):
    """The CSV's batch path gives what ``policy.decide`` gives row by row."""
    src = _subset(tmp_path / "a.csv", 60)
    rows = _score(tmp_path, src, "s.csv")
    art = pd_model.load()
    ds = pd_model.read_dataset(src)
    for i, r in enumerate(rows):
        res = policy.decide({"mode": "csv", "as_of": "2026-01-01",
                             "history": {c: float(ds.columns[c][i]) for c in RAW_COLUMNS}}, art)
        assert (r["DECISION"], int(r["LIMIT"]), r["REASONS"]) == (
            res.outcome, res.credit_limit, ";".join(x["code"] for x in res.reasons))
        assert float(r["PD"]) == pytest.approx(res.pd, abs=1e-6)
