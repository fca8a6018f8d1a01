"""Machinery of the fault suite: seeds, private services, processes, and the invariants.

Everything a fault test breaks is its own: a private ``redis-server`` on a free port (never the
shared 127.0.0.1:6379), a private RabbitMQ virtual host, a private gunicorn and Celery worker
on the test database (started with :mod:`tests.support.processes`, whose ``processes`` and
``rabbit_vhost`` fixtures the tests use). Processes are ended by their own pid only.

Each test prints ``FAULT_SEED=<n>``; ``FAULT_SEED=<n> make test ...`` replays the same amounts,
accounts and kill points.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from tests.support.processes import (
    WAIT,
    Proc,
    free_port,
    kill,
    start_gunicorn,
    start_worker,
    wait_until,
)

# --- seeds ---------------------------------------------------------------------------------


@pytest.fixture
def fault_seed(request: pytest.FixtureRequest) -> random.Random:
    """A ``random.Random`` seeded from ``$FAULT_SEED`` (or a fresh seed), printed."""
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(2**31))
    line = f"[faults] {request.node.nodeid}: FAULT_SEED={seed} reproduces this run"
    print(line)
    sys.__stderr__.write(line + "\n")
    request.node.user_properties.append(("fault_seed", seed))
    return random.Random(seed)


# --- file gates (tests.faults.hooks) --------------------------------------------------------


@pytest.fixture
def gate_dir(tmp_path: Path) -> Path:
    """The directory of the file gates of :mod:`tests.faults.hooks`."""
    d = tmp_path / "gates"
    d.mkdir()
    return d


def arm(gate_dir: Path, name: str) -> None:
    (gate_dir / f"{name}.gate").write_text("armed")


def entered_pid(gate_dir: Path, name: str) -> int:
    """Wait until a process blocks in gate ``name``; its pid."""
    path = gate_dir / f"{name}.entered"
    wait_until(lambda: path.exists() and path.read_text().strip(), f"a process in gate {name}")
    return int(path.read_text())


# --- a private Redis -------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    port: int
    pidfile: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text().strip())

    def stop(self) -> None:
        if self.pidfile.exists():
            kill(self.pid)
            self.pidfile.unlink(missing_ok=True)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """``redis-server`` on a free port, no persistence; SIGKILLed (by pid) at the end."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    pidfile = tmp_path / "redis.pid"
    subprocess.run([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(pidfile),
                    "--dir", str(tmp_path)], check=True, capture_output=True)
    redis = PrivateRedis(port=port, pidfile=pidfile)

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(lambda: up() and pidfile.exists(), "the private redis-server")
    yield redis
    redis.stop()


# --- the Celery producer ------------------------------------------------------------------


def _reset_producer(app: Any) -> None:
    """Forget the app's broker connections (the next publish connects to the current URL).

    Only references are dropped: closing kombu's pools here would leave its global
    per-connection producer pools pointing at a closed pool ("Acquire on closed pool").
    """
    app._pool = None
    with contextlib.suppress(Exception):
        app.amqp._producer_pool = None


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Publish this process's Celery tasks to ``url`` for real (not eagerly) meanwhile."""
    from creditplatform.celery import app

    old = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = url
    app.conf.broker_connection_timeout = 2
    _reset_producer(app)
    try:
        yield
    finally:
        _reset_producer(app)
        app.conf.task_always_eager, app.conf.broker_url = old


# --- processes: Celery worker, gunicorn (hooked) ---------------------------------------------


def start_fault_worker(processes: list[Proc], tmp_path: Path, broker: str, gate_dir: Path,
                       name: str) -> Proc:
    """A Celery worker (solo pool: the task runs in the process we may kill) on ``broker``,
    with the scoring gate of :mod:`tests.faults.hooks` (``tests.faults.worker_app``)."""
    return start_worker(processes, tmp_path, name, broker=broker, app="tests.faults.worker_app",
                        pool=("--pool=solo", "--concurrency=1"),
                        env={"FAULT_GATE_DIR": str(gate_dir)})


def start_fault_gunicorn(processes: list[Proc], tmp_path: Path,
                         gate_dir: Path) -> tuple[Proc, str]:
    """gunicorn (1 sync worker) on a free port over the test database; ``(proc, base url)``.

    Pre-authorization goes through :func:`tests.faults.hooks.gated_preauth` (the
    ``LEDGER_PREAUTH`` extension point); Celery runs eagerly, so each committed charge is
    scored in the request's process after commit.
    """
    return start_gunicorn(processes, tmp_path, env={
        "LEDGER_PREAUTH": "tests.faults.hooks.gated_preauth", "FAULT_GATE_DIR": str(gate_dir),
        "CELERY_TASK_ALWAYS_EAGER": "true"})


# --- the invariants every fault test ends with ---------------------------------------------------


def assert_commands_pass() -> None:
    """``manage.py verify_ledger`` and ``manage.py verify_audit`` exit 0."""
    for command, passed in (("verify_ledger", "ledger verification passed"),
                            ("verify_audit", "audit verification passed")):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(command, stdout=out, stderr=err)
        except SystemExit as exc:
            raise AssertionError(f"{command} exited {exc.code}:\n{err.getvalue()}") from None
        assert passed in out.getvalue(), out.getvalue() + err.getvalue()


def assert_invariants(accepted: dict[str, int], accounts: list[Any],
                      wait_scores: float = WAIT) -> None:
    """After a fault: no money lost or duplicated, every committed charge scored once.

    ``accepted``: journal entry id -> amount, for every charge a client was told succeeded
    (201). The charges in the database must be exactly these (none lost, none extra), every
    account's ``posted`` their sum, each charge exactly one ``FraudScore`` (waiting up to
    ``wait_scores`` seconds for an asynchronous worker), and both verify commands pass.
    """
    from accounts.models import CreditAccount
    from fraud.models import FraudScore
    from ledger.models import JournalEntry

    ids = [a.pk for a in accounts]
    charges = dict(JournalEntry.objects.filter(account_id__in=ids, kind="charge")
                   .values_list("pk", "amount"))
    assert {str(k): v for k, v in charges.items()} == accepted, \
        "the committed charges are not exactly the ones the clients were told succeeded"
    posted = sum(CreditAccount.objects.filter(pk__in=ids).values_list("posted", flat=True))
    assert posted == sum(accepted.values())
    total = JournalEntry.objects.filter(account_id__in=ids, kind="charge").aggregate(
        s=Sum("amount"))["s"] or 0
    assert total == posted
    from creditplatform.webhooks.models import OutboxMessage
    from creditplatform.webhooks.outbox import outbox_relay

    def all_scored() -> bool:
        if FraudScore.objects.filter(entry_id__in=charges).count() == len(charges):
            return True
        # what Celery beat's outbox relay does every few seconds in production (it does not
        # run in the test process): publish whatever the after-commit nudge did not
        if OutboxMessage.objects.filter(dispatched_at__isnull=True).exists():
            outbox_relay(now=timezone.now() + dt.timedelta(hours=1))
        return False

    try:
        wait_until(all_scored, f"a FraudScore for each of the {len(charges)} committed charges",
                   wait_scores)
    except AssertionError as exc:

        outbox = list(OutboxMessage.objects.values_list("topic", "attempts", "dispatched_at",
                                                        "last_error")[:10])
        raise AssertionError(f"{exc}; outbox: {outbox}") from None
    scored = list(FraudScore.objects.filter(entry_id__in=charges)
                  .values_list("entry_id", flat=True))
    assert sorted(map(str, scored)) == sorted(accepted), "a charge scored twice or not at all"
    assert_commands_pass()
