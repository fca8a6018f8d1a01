"""Test-only fault-injection hooks, loaded by name in the processes a fault test starts.

Nothing here is imported by the platform. The hooks plug into extension points that exist
anyway:

* :func:`gated_preauth` is a ``settings.LEDGER_PREAUTH`` callable (set through the
  ``LEDGER_PREAUTH`` environment variable of a gunicorn the test starts): the charge service
  calls it inside the idempotency layer's transaction, with the key's advisory lock held.
* :mod:`tests.faults.worker_app` (the Celery app of a worker the test starts) connects
  :func:`block_in_scoring` to ``post_save`` of ``FraudScore``: the scoring transaction has
  inserted the score and not committed yet.

Both block only when a *gate file* exists in ``$FAULT_GATE_DIR`` and they manage to delete it
(``os.remove`` is atomic: exactly one caller wins), so a retry or a redelivery passes straight
through. While blocked they write ``<name>.entered`` (with their pid) and wait up to
``FAULT_GATE_TIMEOUT`` seconds for ``<name>.release``; the test kills the process meanwhile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

GATE_TIMEOUT = float(os.environ.get("FAULT_GATE_TIMEOUT", "60"))


def _gate(name: str) -> None:
    directory = os.environ.get("FAULT_GATE_DIR")
    if not directory:
        return
    gate = Path(directory) / f"{name}.gate"
    try:
        os.remove(gate)
    except FileNotFoundError:
        return  # not armed, or another caller won it: pass through
    (Path(directory) / f"{name}.entered").write_text(str(os.getpid()))
    release = Path(directory) / f"{name}.release"
    deadline = time.monotonic() + GATE_TIMEOUT
    while not release.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"fault gate {name} never released")
        time.sleep(0.02)


def gated_preauth(request: Any) -> Any:
    """``LEDGER_PREAUTH`` hook: block in gate ``preauth-<merchant>``, then decide as usual."""
    from fraud.preauth import decide

    _gate(f"preauth-{request.merchant}")
    return decide(request)


def block_in_scoring(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """``post_save`` receiver of ``FraudScore``: block in gate ``score`` (uncommitted insert)."""
    if created:
        _gate("score")
