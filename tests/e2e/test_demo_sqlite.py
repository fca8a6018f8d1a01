"""The embedded demo (``make run``'s database): SQLite, local-memory cache, Celery eager.

Everything else in the suite runs on PostgreSQL, so this runs the demo's own steps in a
subprocess with no database settings at all (a fresh ``VAR_DIR``): migrate, ``bootstrap_demo``,
a replay of real handbook rows (pre-authorization rules' raw SQL, the outbox and the feature
store on SQLite), then an API charge and its idempotent replay, and the operator commands that
read raw SQL. Every replayed charge must be scored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "fraud-handbook-sample.csv"

CHECK = r"""
import json, uuid
from django.test import Client
from accounts.models import User
from fraud.models import FraudScore
from ledger.models import JournalEntry
from creditplatform.webhooks.models import OutboxMessage
from django.core.management import call_command

c = Client()
password = open(PASSWORD_FILE).read().strip()
r = c.post("/api/v1/auth/token/", {"username": "cardholder", "password": password},
           content_type="application/json")
token = r.json()["access"]
auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
account = c.get("/api/v1/accounts/", **auth).json()["results"][0]["id"]
body = {"amount": 1999, "currency": "EUR", "merchant": "coffee"}
first = c.post(f"/api/v1/accounts/{account}/charges/", body, content_type="application/json",
               HTTP_IDEMPOTENCY_KEY="demo-1", **auth)
again = c.post(f"/api/v1/accounts/{account}/charges/", body, content_type="application/json",
               HTTP_IDEMPOTENCY_KEY="demo-1", **auth)
print("RESULT " + json.dumps({
    "first": first.status_code, "again": again.status_code,
    "replayed": again.headers.get("Idempotent-Replayed"),
    "same_id": first.json().get("id") == again.json().get("id"),
    "entries": JournalEntry.objects.count(),
    "scored": FraudScore.objects.count(),
    "unpublished": OutboxMessage.objects.filter(dispatched_at__isnull=True).count(),
}))
"""


def _env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "CACHE_", "CELERY_", "TEST_"))}
    env.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="creditplatform.settings")
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-4000:])
    return done.stdout


def test_demo_on_sqlite_replays_scores_and_charges(tmp_path):
    env = _env(tmp_path / "var")
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(SAMPLE.open().readlines()[:151]))  # header + 150 transactions
    _manage(env, "migrate", "--noinput", "-v0")
    assert (tmp_path / "var" / "db.sqlite3").exists()  # the embedded database, not PostgreSQL
    out = _manage(env, "bootstrap_demo")
    password = next(line.split()[1] for line in out.splitlines()
                    if line.strip().startswith("cardholder"))
    (tmp_path / "pw").write_text(password)
    summary = _manage(env, "replay_transactions", str(rows), "--no-progress")
    assert "approved=150" in summary or "rows=150" in summary, summary

    out = _manage(env, "shell", "-c", f"PASSWORD_FILE = {str(tmp_path / 'pw')!r}\n{CHECK}")
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert result["first"] == 201 and result["again"] == 201, result
    assert result["replayed"] == "true" and result["same_id"], result
    assert result["entries"] == 151  # 150 replayed + 1 API charge, the replay added none
    assert result["scored"] == result["entries"] and result["unpublished"] == 0, result

    assert "passed" in _manage(env, "verify_ledger")
    _manage(env, "verify_audit", "--seal")
    _manage(env, "audit_retention", "--dry-run")
