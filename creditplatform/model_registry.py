"""A registry of versioned model artifacts, shared by fraud and (later) credit scoring.

Imports no app of the project (and nothing from Django): callers pass the registry root.

Layout under ``root``::

    <name>/<version>/model.txt    the model in LightGBM's text format (never a pickle)
    <name>/<version>/meta.json    feature list, metrics, training data sha256, split dates,
                                  created_at, model_sha256 (sha256 of model.txt), ...

:func:`register` writes a new version (refusing to overwrite one); :func:`load` reads a version
(the latest when none is named), checks ``sha256(model.txt) == meta["model_sha256"]`` on the
exact bytes it then parses, and raises :class:`ArtifactIntegrityError` on a mismatch, a
world-writable file, or a path outside the registry. Nothing is ever unpickled: LightGBM
parses its own text format (``Booster(model_str=...)``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.txt"
META_FILE = "meta.json"
FORMAT_LIGHTGBM_TEXT = "lightgbm-text"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class RegistryError(Exception):
    """A registry operation could not be done (unknown model, bad name, existing version)."""


class ArtifactIntegrityError(RegistryError):
    """An artifact failed its integrity checks: it must not be loaded."""


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: ``model`` is the parsed model (a ``lightgbm.Booster``)."""

    name: str
    version: str
    path: Path
    meta: dict[str, Any]
    model: Any

    @property
    def sha256(self) -> str:
        return str(self.meta["model_sha256"])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_name(kind: str, value: str) -> str:
    if not _NAME_RE.match(value):
        raise RegistryError(f"bad {kind} {value!r}: lower-case letters, digits, '.', '_', '-'")
    return value


def _version_dir(root: Path, name: str, version: str) -> Path:
    root = Path(root).resolve()
    path = (root / _check_name("name", name) / _check_name("version", version)).resolve()
    if root not in path.parents:
        raise ArtifactIntegrityError(f"{path} is outside the registry {root}")
    return path


def new_version(model_sha256: str, now: dt.datetime | None = None) -> str:
    """A sortable version id: UTC time of creation plus the first 8 hex digits of the model."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dt%H%M%Sz}-{model_sha256[:8]}"


def register(*, root: str | os.PathLike[str], name: str, model_text: str,
             meta: dict[str, Any], version: str | None = None,
             model_format: str = FORMAT_LIGHTGBM_TEXT) -> Path:
    """Store a new version of ``name`` and return its directory.

    ``meta`` is completed with ``name``, ``version``, ``model_format``, ``model_file``,
    ``model_sha256``, ``model_bytes`` and ``created_at`` (ISO 8601 UTC) unless present.
    Refuses to overwrite an existing version. Files are written read-only for group and others.
    """
    if model_format != FORMAT_LIGHTGBM_TEXT:
        raise RegistryError(f"unsupported model format {model_format!r}")
    data = model_text.encode("utf-8")
    digest = sha256_bytes(data)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    version = version or new_version(digest, created)
    path = _version_dir(Path(root), name, version)
    if path.exists():
        raise RegistryError(f"{name} version {version} already exists")
    path.mkdir(parents=True, mode=0o755)
    full_meta = {"name": name, "version": version, "model_format": model_format,
                 "model_file": MODEL_FILE, "created_at": created.isoformat(), **meta,
                 "model_sha256": digest, "model_bytes": len(data)}
    (path / MODEL_FILE).write_bytes(data)
    (path / META_FILE).write_text(json.dumps(full_meta, indent=1, sort_keys=False) + "\n")
    for f in (MODEL_FILE, META_FILE):
        os.chmod(path / f, 0o644)
    return path


def versions(*, root: str | os.PathLike[str], name: str) -> list[str]:
    """The versions of ``name`` that have a meta file, oldest first (version ids sort by time)."""
    base = Path(root) / _check_name("name", name)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if p.is_dir() and _NAME_RE.match(p.name) and (p / META_FILE).is_file())


def _read_checked(path: Path) -> bytes:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise ArtifactIntegrityError(f"{path} is not a regular file")
    if st.st_mode & stat.S_IWOTH:
        raise ArtifactIntegrityError(f"{path} is writable by anyone: refusing to load it")
    return path.read_bytes()


def load_meta(*, root: str | os.PathLike[str], name: str,
              version: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The directory and meta of a version (the latest if ``version`` is None)."""
    if version is None:
        found = versions(root=root, name=name)
        if not found:
            raise RegistryError(f"no registered version of {name!r} under {root}")
        version = found[-1]
    path = _version_dir(Path(root), name, version)
    try:
        meta = json.loads(_read_checked(path / META_FILE))
    except FileNotFoundError:
        raise RegistryError(f"{name} version {version} is not registered") from None
    if meta.get("name") != name or meta.get("version") != version:
        raise ArtifactIntegrityError(f"{path / META_FILE} names another artifact")
    return path, meta


def load(*, root: str | os.PathLike[str], name: str, version: str | None = None) -> Artifact:
    """Load and verify an artifact. Raises :class:`ArtifactIntegrityError` when the model
    bytes do not match ``meta["model_sha256"]``."""
    path, meta = load_meta(root=root, name=name, version=version)
    if meta.get("model_format") != FORMAT_LIGHTGBM_TEXT:
        raise ArtifactIntegrityError(f"unsupported model format {meta.get('model_format')!r}")
    data = _read_checked(path / MODEL_FILE)
    digest = sha256_bytes(data)
    expected = meta.get("model_sha256")
    if not expected or digest != expected:
        raise ArtifactIntegrityError(
            f"{path / MODEL_FILE}: sha256 {digest} does not match the registered {expected}")
    import lightgbm  # local: importing the registry costs nothing until a model is loaded

    booster = lightgbm.Booster(model_str=data.decode("utf-8"))  # text format: no unpickling
    return Artifact(name=name, version=meta["version"], path=path, meta=meta, model=booster)
