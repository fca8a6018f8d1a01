"""The PD model: training makes a loadable, checksummed artifact; no protected inputs."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from accounts.credit import features, pd_model
from creditplatform import model_registry
from tests.credit.conftest import DATA


@pytest.fixture(scope="module")
def small_artifact(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, model_registry.Artifact]:
    root = tmp_path_factory.mktemp("registry")
    out = io.StringIO()
    call_command("train_credit_model", data=DATA, out=root, rows=1500, min_data_in_leaf=20,
                 threads=1, stdout=out)
    TRAIN_OUTPUT.append(out.getvalue())
    return root, pd_model.load(registry=root)


TRAIN_OUTPUT: list[str] = []


def test_training_shows_progress_and_a_summary(small_artifact):
    out = TRAIN_OUTPUT[0]
    for fold in range(1, 6):
        assert f"CV fold {fold}/5: AUC" in out
    assert "refit on all rows" in out and "validation AUC" in out and "registered" in out


def test_training_a_subset_registers_a_verified_artifact(small_artifact):
    root, art = small_artifact
    meta = art.meta
    assert meta["name"] == "credit-pd" and meta["data_rows"] == 1500
    assert meta["features"] == features.feature_names() == art.model.feature_name()
    assert 0.5 < meta["metrics"]["val_auc"] <= 1.0
    assert 0 < meta["cutoffs"]["approve_below"] < meta["cutoffs"]["decline_from"] < 1
    assert model_registry.sha256_file(art.path / "model.txt") == meta["model_sha256"]


def test_tampered_model_is_refused(small_artifact, tmp_path):
    root, art = small_artifact
    copy = tmp_path / "reg"
    target = copy / "credit-pd" / art.version
    target.mkdir(parents=True)
    for name in ("model.txt", "meta.json"):
        (target / name).write_bytes((art.path / name).read_bytes())
        os.chmod(target / name, 0o644)
    text = (target / "model.txt").read_text()
    (target / "model.txt").write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(model_registry.ArtifactIntegrityError):
        pd_model.load(registry=copy, version=art.version)


def test_no_protected_or_proxy_input_and_only_raw_columns_read():
    names = features.feature_names()
    for col in ("SEX", "MARRIAGE", "AGE", "EDUCATION"):
        assert col not in names and col not in features.RAW_COLUMNS
    row = {c: 1.0 for c in features.RAW_COLUMNS}
    base = features.feature_row(row)
    noisy = features.feature_row({**row, "SEX": 2, "MARRIAGE": 3, "AGE": 70, "EDUCATION": 4})
    assert np.array_equal(base, noisy, equal_nan=True)


def test_batch_and_single_row_features_agree():
    with open(DATA, newline="") as fh:
        rows = [r for _, r in zip(range(200), csv.DictReader(fh), strict=False)]
    cols = {c: np.array([float(r[c]) for r in rows]) for c in features.RAW_COLUMNS}
    batch = features.feature_matrix(cols)
    for i in (0, 57, 199):
        one = features.feature_row({c: float(rows[i][c]) for c in features.RAW_COLUMNS})
        assert np.array_equal(batch[i:i + 1], one, equal_nan=True)


def test_committed_artifact_loads_and_meets_its_recorded_metrics():
    art = pd_model.load()
    m = art.meta["metrics"]
    assert m["n_val"] == 4800 and art.meta["data_rows"] == 24000
    assert m["val_auc"] >= 0.78  # the figure itself is reported in docs/credit.md
    assert set(art.meta["excluded_inputs"]) == {"SEX", "MARRIAGE", "AGE", "EDUCATION"}
