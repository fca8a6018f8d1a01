"""Field encryption: AES-256-GCM under a versioned key ring, plus HMAC-SHA256 blind indexes.

Ciphertext layout (bytes)::

    version | key id (4 bytes, big endian) | nonce (12 random bytes) | ciphertext || 16-byte tag

Version 0x01: encrypted under a key-ring data key (key id = ring key id). Version 0x02:
encrypted under a per-customer data key (key id = that customer key's id), itself stored
wrapped by the ring; destroying it crypto-shreds the customer's personal data.

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
CUSTOMER_KEY_VERSION = 2
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


@dataclass(frozen=True)
class DataKey:
    """A per-customer data key: ``key_id`` goes in each ciphertext, ``secret`` is 32 bytes."""

    key_id: int
    secret: bytes


def encrypt(plaintext: bytes, *, aad: bytes, key: DataKey | None = None) -> bytes:
    """Encrypt ``plaintext`` under ``key`` (a customer key) or the ring's active data key;
    returns the layout in the module doc."""
    nonce = os.urandom(12)
    if key is not None:
        sealed = AESGCM(key.secret).encrypt(nonce, plaintext, aad)
        return bytes([CUSTOMER_KEY_VERSION]) + key.key_id.to_bytes(4, "big") + nonce + sealed
    ring = keyring()
    sealed = AESGCM(ring.data_keys[ring.active]).encrypt(nonce, plaintext, aad)
    return bytes([FORMAT_VERSION]) + ring.active.to_bytes(4, "big") + nonce + sealed


def header_of(blob: bytes) -> tuple[int, int]:
    """``(version, key id)`` of a ciphertext (for rotation progress and key look-up)."""
    blob = bytes(blob)
    if len(blob) < _HEADER + 16 or blob[0] not in (FORMAT_VERSION, CUSTOMER_KEY_VERSION):
        raise DecryptionError("not a field ciphertext")
    return blob[0], int.from_bytes(blob[1:5], "big")


def key_id_of(blob: bytes) -> int:
    """The key id a ciphertext was made with."""
    return header_of(blob)[1]


def decrypt(blob: bytes, *, aad: bytes, key: DataKey | None = None) -> bytes:
    """Decrypt a value made by :func:`encrypt` with the same ``aad`` (and customer ``key``).

    Raises:
        DecryptionError: malformed, unknown or destroyed key, tampered, or bound to another
            row or column.
    """
    blob = bytes(blob)
    version, key_id = header_of(blob)
    if version == CUSTOMER_KEY_VERSION:
        if key is None or key.key_id != key_id:
            raise DecryptionError(f"customer data key {key_id} is needed (or was destroyed)")
        secret = key.secret
    else:
        ring_key = keyring().data_keys.get(key_id)
        if ring_key is None:  # another process may have rotated: read the ring again once
            reload()
            ring_key = keyring().data_keys.get(key_id)
        if ring_key is None:
            raise DecryptionError(f"unknown data key id {key_id}")
        secret = ring_key
    try:
        return AESGCM(secret).decrypt(blob[5:_HEADER], blob[_HEADER:], aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext failed authentication (tampered or moved)") from exc


def add_ring_key() -> int:
    """Rotation, step 1: add a new data key to the ring file and make it active.

    Old keys stay (values made with them stay readable) until ``rotate_keys`` has re-encrypted
    or re-wrapped everything. Returns the new active key id.
    """
    path = _path()
    with _lock:
        doc = json.loads(path.read_text())
        new_id = max(int(k) for k in doc["data_keys"]) + 1
        doc["data_keys"][str(new_id)] = _wrap(_kek(), AESGCM.generate_key(bit_length=256),
                                              f"data:{new_id}")
        doc["active"] = new_id
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
        os.replace(tmp, path)
        global _ring
        _ring = None
    return new_id


def blind_index(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 (RFC 2104) of ``value`` under the blind-index key, scoped by ``purpose``.

    Returns 64 lowercase hex characters; equal inputs give equal indexes, so duplicates can be
    found and values looked up without decrypting.
    """
    mac = hmac.new(keyring().blind_index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256)
    return mac.hexdigest()
