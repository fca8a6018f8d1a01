"""fraud_score_csv scores without look-ahead: labels known only later, future transactions and
the label columns of the scored file never change an earlier score."""

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from fraud.features import DAY, DELAY, ORIGIN

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "fraud-handbook-sample.csv"
SPLIT_DAY = 91    # history: days 61..90; scored: days 91..121
CUTOFF = 95 * DAY + 12 * 3600  # labels known at or after this moment are changed


def _rows():
    with SAMPLE.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def _write(path, header, rows):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    return path


def _feedback(path, rows, flip_from=None):
    """Every scored row's label, known 1-9 days after it; labels known at or after flip_from
    are inverted."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["TRANSACTION_ID", "TX_FRAUD", "KNOWN_AT"])
        for i, r in enumerate(rows):
            known = int(r["TX_TIME_SECONDS"]) + (1 + i % 9) * DAY
            label = int(r["TX_FRAUD"])
            if flip_from is not None and known >= flip_from:
                label = 1 - label
            when = ORIGIN + dt.timedelta(seconds=known)
            # both accepted KNOWN_AT forms: seconds and a UTC date-time
            w.writerow([r["TRANSACTION_ID"], label,
                        known if i % 2 else when.strftime("%Y-%m-%d %H:%M:%S")])
    return path


def _score(tmp_path, name, tx, history=None, feedback=None):
    out = tmp_path / f"{name}.csv"
    args = ["--transactions", str(tx), "--out", str(out)]
    if history:
        args += ["--history", str(history)]
    if feedback:
        args += ["--feedback", str(feedback)]
    call_command("fraud_score_csv", *args, stdout=io.StringIO())
    with out.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["TRANSACTION_ID", "SCORE", "DECISION"]
        return {int(r["TRANSACTION_ID"]): (float(r["SCORE"]), r["DECISION"]) for r in reader}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    header, rows = _rows()
    hist = [r for r in rows if int(r["TX_TIME_DAYS"]) < SPLIT_DAY]
    scored = [r for r in rows if int(r["TX_TIME_DAYS"]) >= SPLIT_DAY]
    # history labels become known at t + 7 days: flip those known after the cutoff
    hist_flipped = [dict(r, TX_FRAUD=str(1 - int(r["TX_FRAUD"])))
                    if int(r["TX_TIME_SECONDS"]) + DELAY > CUTOFF else r for r in hist]
    assert hist_flipped != hist
    return {
        "header": header, "scored": scored, "tmp": tmp,
        "T": _write(tmp / "t.csv", header, scored),
        "H": _write(tmp / "h.csv", header, hist),
        "H2": _write(tmp / "h2.csv", header, hist_flipped),
        "F": _feedback(tmp / "f.csv", scored),
        "F2": _feedback(tmp / "f2.csv", scored, flip_from=CUTOFF),
    }


def test_labels_known_later_change_no_earlier_score(files, tmp_path):
    base = _score(tmp_path, "base", files["T"], files["H"], files["F"])
    changed = _score(tmp_path, "changed", files["T"], files["H2"], files["F2"])
    times = {int(r["TRANSACTION_ID"]): int(r["TX_TIME_SECONDS"]) for r in files["scored"]}
    assert set(base) == set(changed) == set(times)
    before = [i for i in base if times[i] <= CUTOFF]
    after = [i for i in base if times[i] > CUTOFF]
    assert len(before) > 300 and len(after) > 1000
    assert all(base[i] == changed[i] for i in before)          # bit-identical scores
    # the test has teeth: the changed labels do move later scores
    assert sum(base[i][0] != changed[i][0] for i in after) > 100


def test_feedback_counts_only_strictly_after_known_at(files, tmp_path):
    no_feedback = _score(tmp_path, "nofb", files["T"], files["H"])
    with_feedback = _score(tmp_path, "fb", files["T"], files["H"], files["F"])
    first_known = min(int(r["TX_TIME_SECONDS"]) for r in files["scored"]) + DAY
    times = {int(r["TRANSACTION_ID"]): int(r["TX_TIME_SECONDS"]) for r in files["scored"]}
    assert all(no_feedback[i] == with_feedback[i] for i in times if times[i] <= first_known)
    assert any(no_feedback[i] != with_feedback[i] for i in times)


def test_label_columns_and_future_rows_of_the_scored_file_are_ignored(files, tmp_path):
    base = _score(tmp_path, "base", files["T"], files["H"], files["F"])
    # labels of the scored file inverted: nothing changes
    flipped = [dict(r, TX_FRAUD=str(1 - int(r["TX_FRAUD"])), TX_FRAUD_SCENARIO="9")
               for r in files["scored"]]
    t_flipped = _write(tmp_path / "t_flipped.csv", files["header"], flipped)
    assert _score(tmp_path, "flipped", t_flipped, files["H"], files["F"]) == base
    # the file cut at the cutoff: the rows before it score the same (no look-ahead)
    head = [r for r in files["scored"] if int(r["TX_TIME_SECONDS"]) <= CUTOFF]
    t_head = _write(tmp_path / "t_head.csv", files["header"], head)
    cut = _score(tmp_path, "head", t_head, files["H"], files["F"])
    assert cut == {i: base[i] for i in cut}


def test_a_label_counts_from_the_second_after_its_known_at():
    from fraud import ml

    model = ml.load_model()
    t0 = 80 * DAY
    a = ml.Tx(1, t0, 10, 500, 30.0, None, t0 // DAY)
    scored = [a] + [ml.Tx(i, t0 + DAY + (i - 2), 10 + i, 500, 30.0, None, (t0 + DAY) // DAY)
                    for i in (2, 3, 4)]         # at KNOWN_AT - 1, KNOWN_AT, KNOWN_AT + 1
    known_at = t0 + DAY + 1
    plain = ml.score_stream(model, scored)
    told = ml.score_stream(model, scored, feedback=[(1, 1, known_at)])
    assert plain[:3] == told[:3]                 # up to and including KNOWN_AT: unchanged
    assert plain[3][1] != told[3][1]             # one second later the fraud label counts
