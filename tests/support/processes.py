"""Real processes a test starts: gunicorn, Celery workers, and a private RabbitMQ virtual host.

Shared by the scale-out test (``tests/e2e/test_two_instances.py``) and the fault suite
(``tests/faults/``). Every process runs this checkout's code with the test run's environment on
the test database pytest-django created (:func:`child_env`), logs to a file under the test's
``tmp_path``, and is ended by its own pid (SIGTERM, then SIGKILL), never by name. A start
helper returns once the process is ready (gunicorn answers ``/healthz``, the worker logs
``ready.``) and fails the test with the log's tail if the process exits first.

Fixtures (the module is a plugin of ``tests/conftest.py``): ``processes``, the list every
started process goes into, all stopped at teardown whatever happened; ``rabbit_vhost``, an AMQP
broker URL on a fresh RabbitMQ virtual host (deleted after), so that no other worker on the
machine takes the test's tasks and the test takes no one else's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT = 60.0  # seconds a wait may take before the test fails with a message


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll ``predicate`` every 50 ms until it returns something true, and return that.

    Raises ``AssertionError`` ("timed out after <timeout>s waiting for <what>") once ``timeout``
    seconds have passed; an exception of ``predicate`` propagates at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def kill(pid: int) -> None:
    """SIGKILL one process we started (never by name); gone already is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def db_url() -> str:
    """The test database (the one pytest-django created) as a URL for child processes."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test run's environment for a child process, on the test database, plus ``extra``."""
    from django.conf import settings

    return {**os.environ, "DATABASE_URL": db_url(), "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "creditplatform.settings", "LOG_LEVEL": "WARNING",
            "VAR_DIR": str(settings.VAR_DIR), **(extra or {})}


class Proc:
    """A child process started from the checkout's root, its stdout and stderr in ``log``."""

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(list(cmd), cwd=ROOT, env=dict(env), stdout=out,
                                         stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        """The process id (what :func:`kill` takes)."""
        return self.proc.pid

    def text(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        """``True`` while it runs; raises ``AssertionError`` with the log's tail once it exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.log.name} exited:\n{self.text()[-3000:]}")
        return True

    def stop(self) -> None:
        """SIGTERM, up to 15 s to exit, then SIGKILL (by pid)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                kill(self.proc.pid)
                self.proc.wait(10)


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    """Every process a test starts; all stopped (by pid) at the end, whatever happened."""
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def start_gunicorn(processes: list[Proc], tmp_path: Path, name: str = "web", *,
                   workers: int = 1, env: Mapping[str, str] | None = None,
                   timeout: float = WAIT) -> tuple[Proc, str]:
    """gunicorn serving ``creditplatform.wsgi`` with ``workers`` sync workers on a free port.

    ``env``: extra environment (:func:`child_env`). Returns ``(process, base URL)`` once
    ``/healthz`` answers 200; the log is ``<tmp_path>/gunicorn-<name>.log``.
    """
    port = free_port()
    p = Proc([str(BIN / "gunicorn"), "creditplatform.wsgi:application", "-b",
              f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
              "--timeout", "120", "--graceful-timeout", "5"],
             child_env(env), tmp_path / f"gunicorn-{name}.log")
    processes.append(p)
    base = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        p.alive()
        try:
            return requests.get(f"{base}/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    wait_until(listening, f"gunicorn {name} to answer", timeout)
    return p, base


def start_worker(processes: list[Proc], tmp_path: Path, name: str, *, broker: str,
                 app: str = "creditplatform", pool: Sequence[str] = ("--concurrency=2",),
                 env: Mapping[str, str] | None = None, timeout: float = WAIT) -> Proc:
    """A Celery worker of ``app`` consuming from ``broker`` (tasks not eager), named
    ``<name>@tests``; ``pool``: its pool options. Returns once it logged ``ready.``; the log
    (task lines at INFO) is ``<tmp_path>/worker-<name>.log``."""
    p = Proc([str(BIN / "celery"), "-A", app, "worker", *pool, "--without-gossip",
              "--without-mingle", "--without-heartbeat", "-n", f"{name}@tests", "-l", "INFO"],
             child_env({"CELERY_BROKER_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false",
                        "CELERY_TRACE_LOG_LEVEL": "INFO", **(env or {})}),
             tmp_path / f"worker-{name}.log")
    processes.append(p)
    wait_until(lambda: p.alive() and "ready." in p.text(), f"worker {name}", timeout)
    return p


def rabbitmqctl(*args: str) -> None:
    """Run ``rabbitmqctl -q <args>``; raises ``CalledProcessError`` if it fails."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def rabbit_vhost(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh RabbitMQ virtual host for this test (deleted after): an AMQP broker URL."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("RabbitMQ is not installed (scripts/services.sh installs it)")
    vhost = f"{request.path.stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        with contextlib.suppress(Exception):
            rabbitmqctl("delete_vhost", vhost)
