"""Celery application. Settings come from Django settings under the ``CELERY_`` namespace.

Worker processes give the C heap's free pages back to the operating system after every task
(:func:`release_free_memory`, ``settings.WORKER_MALLOC_TRIM``): a fraud scoring batch builds and
frees megabytes of state text, query parameters and results, and glibc otherwise keeps the
pages of the largest batch so far (``docs/reliability.md``, "Worker memory").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")

app = Celery("creditplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_trim = _malloc_trim()


def release_free_memory(**_: Any) -> bool:
    """Return the C heap's free pages to the operating system (glibc ``malloc_trim(0)``:
    ``madvise(MADV_DONTNEED)`` on every free page of every arena, not only the top of the
    heap). Connected to ``task_postrun`` in worker processes when ``settings.WORKER_MALLOC_TRIM``
    is true (the default). Returns whether memory was released; False where the C library has
    no ``malloc_trim``.

    Cost: about 0.5 ms when little is free, up to ~15 ms after ~100 MB were freed; no
    measurable change in CPU per score under the soak's load (``bench/worker_memory.py``). It
    does not reach Python's small objects, which CPython's allocator (pymalloc) keeps in 1 MiB
    arenas released only when empty; ``PYTHONMALLOC=malloc`` would put them in the C heap too,
    but measured 11.2 ms of CPU per score against 7.5 to 10.2 ms without it, so it is not used.
    """
    return bool(_trim(0)) if _trim is not None else False


@signals.worker_init.connect(weak=False, dispatch_uid="creditplatform.celery.trim")
def _connect_trim(**_: Any) -> None:
    # worker_init runs in the worker's main process before the pool forks, so the prefork
    # children (which run the tasks) inherit the receiver; web processes and eager tasks
    # (tests, the embedded demo) never trim.
    from django.conf import settings

    if getattr(settings, "WORKER_MALLOC_TRIM", True) and _trim is not None:
        signals.task_postrun.connect(release_free_memory, weak=False,
                                     dispatch_uid="creditplatform.celery.release_free_memory")
