"""Field encryption: AES-256-GCM under a versioned key ring, plus HMAC-SHA256 blind indexes.

Ciphertext layout (bytes)::

    0x01 | key id (4 bytes, big endian) | nonce (12 random bytes) | ciphertext || 16-byte tag

The associated data binds each value to its table, column and row (:func:`aad_for`), so a
ciphertext copied into another row or column fails to decrypt (:class:`DecryptionError`).
Data keys are stored wrapped (AES-256-GCM) by a key-encryption key (``settings.FIELD_KEK``)
that comes from the environment and never lives in the database. NIST SP 800-38D limits
random 96-bit nonces to 2**32 messages per key; rotation (new active key id) keeps far below.

Imports no app, so every app can encrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

FORMAT_VERSION = 1
_HEADER = 1 + 4 + 12


class DecryptionError(Exception):
    """A ciphertext is malformed, its key is unknown, or its tag or associated data is wrong."""


@dataclass(frozen=True)
class KeyRing:
    """Unwrapped keys: ``data_keys`` maps key id -> 32-byte AES key; ``active`` encrypts."""

    active: int
    data_keys: dict[int, bytes]
    blind_index_key: bytes


_lock = threading.Lock()
_ring: KeyRing | None = None


def _kek() -> AESGCM:
    raw = base64.urlsafe_b64decode(settings.FIELD_KEK.encode())
    if len(raw) != 32:
        raise DecryptionError("FIELD_KEK must be 32 bytes, url-safe base64")
    return AESGCM(raw)


def _wrap(kek: AESGCM, key: bytes, label: str) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + kek.encrypt(nonce, key, label.encode())).decode()


def _unwrap(kek: AESGCM, wrapped: str, label: str) -> bytes:
    blob = base64.b64decode(wrapped)
    try:
        return kek.decrypt(blob[:12], blob[12:], label.encode())
    except InvalidTag as exc:
        raise DecryptionError(f"key {label} does not unwrap under FIELD_KEK") from exc


def _path() -> Path:
    return Path(settings.FIELD_KEYRING_PATH)


def _create_keyring_file(path: Path) -> None:
    kek = _kek()
    doc = {
        "format": 1,
        "active": 1,
        "data_keys": {"1": _wrap(kek, AESGCM.generate_key(bit_length=256), "data:1")},
        "blind_index_key": _wrap(kek, secrets.token_bytes(32), "blind-index"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)


def keyring() -> KeyRing:
    """The loaded key ring; created on first use only where ``FIELD_KEYRING_AUTOCREATE``
    (the embedded demo and tests; never production).

    Raises:
        DecryptionError: the file is missing outside DEBUG, or a key does not unwrap.
    """
    global _ring
    if _ring is not None:
        return _ring
    with _lock:
        if _ring is None:
            path = _path()
            if not path.exists():
                if not settings.FIELD_KEYRING_AUTOCREATE:
                    raise DecryptionError(f"key ring {path} is missing")
                _create_keyring_file(path)
            doc = json.loads(path.read_text())
            kek = _kek()
            _ring = KeyRing(
                active=int(doc["active"]),
                data_keys={
                    int(k): _unwrap(kek, v, f"data:{k}") for k, v in doc["data_keys"].items()
                },
                blind_index_key=_unwrap(kek, doc["blind_index_key"], "blind-index"),
            )
    return _ring


def reload() -> None:
    """Forget the cached key ring (after rotation or in tests)."""
    global _ring
    with _lock:
        _ring = None


def aad_for(table: str, column: str, row_id: object) -> bytes:
    """Associated data binding a value to ``table.column`` of row ``row_id``."""
    return f"{table}|{column}|{row_id}".encode()


def encrypt(plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under the active data key; returns the layout in the module doc."""
    ring = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(ring.data_keys[ring.active]).encrypt(nonce, plaintext, aad)
    return bytes([FORMAT_VERSION]) + ring.active.to_bytes(4, "big") + nonce + sealed


def key_id_of(blob: bytes) -> int:
    """The key id a ciphertext was made with (for rotation progress)."""
    if len(blob) < _HEADER + 16 or blob[0] != FORMAT_VERSION:
        raise DecryptionError("not a field ciphertext")
    return int.from_bytes(blob[1:5], "big")


def decrypt(blob: bytes, *, aad: bytes) -> bytes:
    """Decrypt a value made by :func:`encrypt` with the same ``aad``.

    Raises:
        DecryptionError: malformed, unknown key id, tampered, or bound to another row/column.
    """
    blob = bytes(blob)
    key_id = key_id_of(blob)
    key = keyring().data_keys.get(key_id)
    if key is None:
        raise DecryptionError(f"unknown data key id {key_id}")
    try:
        return AESGCM(key).decrypt(blob[5:_HEADER], blob[_HEADER:], aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext failed authentication (tampered or moved)") from exc


def blind_index(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 (RFC 2104) of ``value`` under the blind-index key, scoped by ``purpose``.

    Returns 64 lowercase hex characters; equal inputs give equal indexes, so duplicates can be
    found and values looked up without decrypting.
    """
    mac = hmac.new(keyring().blind_index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256)
    return mac.hexdigest()
