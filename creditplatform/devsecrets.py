"""Development secrets generated once into ``var/`` for the embedded demo.

Production never reaches this module: settings refuse to start with ``DJANGO_DEBUG=false``
unless every secret comes from the environment.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def dev_secret(var_dir: Path, name: str, nbytes: int = 32) -> str:
    """Return the url-safe base64 secret stored in ``var_dir/name``, creating it atomically.

    Shape: a base64 string of ``nbytes`` random bytes (``secrets.token_bytes``). Several
    processes starting at once agree on one value: the file is created with ``O_EXCL`` and a
    loser of the race reads the winner's file.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / name
    if not path.exists():
        value = base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            return text
    raise RuntimeError(f"development secret {path} is empty")
