"""Shared set-up of the in-process benchmarks (``bench/fraud.py``, ``bench/preauth.py``): the
Django environment of a private database and Redis db, a percentile and a PostgreSQL backend's
CPU time."""

from __future__ import annotations

import os
from pathlib import Path


def configure(name: str) -> None:
    """Default environment of the bench ``name`` (each variable may be overridden): database
    ``creditplatform_bench_<name>``, Redis db 14 under the cache prefix ``bench-<name>``,
    Celery eager, ``VAR_DIR`` ``/tmp/creditplatform-bench-<name>``, the fast test hasher."""
    defaults = {
        "DJANGO_SETTINGS_MODULE": "creditplatform.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/creditplatform_bench_{name}",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "CACHE_KEY_PREFIX": f"bench-{name}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "VAR_DIR": f"/tmp/creditplatform-bench-{name}",
        "PASSWORD_HASHERS": "django.contrib.auth.hashers.MD5PasswordHasher",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile ``p`` (0-100) of ``values`` (any order, not empty)."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]


def backend_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this connection's PostgreSQL backend, from
    ``/proc/<pid>/stat`` (same machine); 0.0 where it cannot be read."""
    from django.db import connection

    try:
        with connection.cursor() as c:
            c.execute("SELECT pg_backend_pid()")
            pid = c.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0
