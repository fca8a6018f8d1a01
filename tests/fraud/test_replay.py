import io

import pytest
from django.core.management import call_command

from accounts.models import Card, User
from fraud.models import Alert
from ledger.models import JournalEntry

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = ("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,"
          "TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n")
ROWS = [
    "1,2018-06-01 00:01:11,7,100,163.64,5270471,61,0,0",
    "2,2018-06-01 00:02:11,8,101,12.50,5270531,61,0,0",
    "3,2018-06-01 00:03:11,7,102,not-a-number,5270591,61,0,0",
    "4,2018-06-01 00:04:11,9,103,250.00,5270651,61,1,1",
    "5,2018-06-01 00:05:11,8,100,0.00,5270711,61,0,0",
    "6,yesterday,8,100,3.00,5270711,61,0,0",
    "7,2018-06-01 00:06:11,8,100,1.234,5270711,61,0,0",
]


def run(path, *extra):
    out, err = io.StringIO(), io.StringIO()
    call_command("replay_transactions", str(path), "--no-progress", *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_replay_is_idempotent_and_reports_bad_rows(tmp_path):
    csv_path = tmp_path / "tx.csv"
    csv_path.write_text(HEADER + "\n".join(ROWS) + "\n")
    out, err = run(csv_path)
    assert "rows=7 approved=3" in out and "invalid=4" in out and "flagged=1" in out
    assert "rows_per_second=" in out
    for line in (4, 6, 7, 8):
        assert f"line {line}: skipped" in err
    assert JournalEntry.objects.count() == 3
    assert User.objects.filter(username__startswith="hb-customer-").count() == 3
    assert Card.objects.count() == 3
    assert Alert.objects.get().entry.amount == 25_000

    out2, _ = run(csv_path)
    assert "approved=0" in out2 and "already_replayed=3" in out2 and "flagged=0" in out2
    assert JournalEntry.objects.count() == 3 and Card.objects.count() == 3


def test_limit(tmp_path):
    csv_path = tmp_path / "tx.csv"
    csv_path.write_text(HEADER + "\n".join(ROWS) + "\n")
    out, _ = run(csv_path, "--limit", "2")
    assert "rows=2 approved=2" in out
    assert JournalEntry.objects.count() == 2
