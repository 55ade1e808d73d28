"""Encryption at rest: one keyring for the ORM columns, the per-message path (storage/hot.py) and the files folder.

- Values are sealed with AES-256-GCM. A text value becomes ``enc1:<key id>:<base64(nonce + ciphertext)>``; a
  file becomes ``MFE1`` + key id + nonce + ciphertext. The key id travels with every ciphertext, so while keys
  are rotated (``python -m bot keys rotate``) the old key still opens what it sealed.
- Equality look-ups (a national ID, a WhatsApp number) use a blind index: HMAC-SHA256 of the normalised value
  under a sub-key derived from each data key. Rows are written with the current key's index; a look-up asks for
  the index under every key in the ring, so rows not yet re-encrypted are still found during a rotation.
- Keys come from ``BOT_DATA_KEY`` (base64 of 32 bytes; several comma-separated during a rotation, the first
  one seals) or, when it is unset, from ``<data dir>/data-key.json`` (mode 0600), created on first use.
- A value that does not carry the prefix is read as it is: rows written before encryption stay readable until
  ``keys rotate`` seals them.

The keyring is installed once per process by the bootstrap (``install``); ``active()`` loads it from the
environment when nothing was installed (a bench script, a one-off tool).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import JSON, Text
from sqlalchemy.types import TypeDecorator

# What json.dumps(value, ensure_ascii=False, separators=(",", ":")) does, without building an encoder per call
# (a conversation state is sealed on every message).
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

log = logging.getLogger(__name__)

PREFIX = "enc1:"
FILE_MAGIC = b"MFE1"
KEY_FILE = "data-key.json"
_NONCE = 12


class DataKeyError(Exception):
    """A key is missing or malformed (the message names no key material)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"mustafid-key-id" + key).hexdigest()[:8]


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError:
        raise DataKeyError("a data key is not base64") from None
    if len(key) != 32:
        raise DataKeyError("a data key must be 32 bytes (base64 of 32 random bytes)")
    return key


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


@dataclass
class Keyring:
    """Data keys by id; ``current`` seals, all open. ``source`` is the key file when keys live in one."""

    keys: dict[str, bytes]
    current: str
    source: Path | None = None
    _aead: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _index: dict[str, bytes] = field(default_factory=dict, repr=False)
    _checked: float = 0.0
    _mtime: float = 0.0

    @classmethod
    def of(cls, keys: list[bytes], source: Path | None = None) -> Keyring:
        if not keys:
            raise DataKeyError("no data key")
        return cls({key_id(key): key for key in keys}, key_id(keys[0]), source)

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._aead.get(kid)
        if cipher is None:
            if kid not in self.keys:
                self._reload()
            if kid not in self.keys:
                raise DataKeyError(f"data key {kid} is not in the keyring")
            cipher = self._aead[kid] = AESGCM(_derive(self.keys[kid], b"mustafid-aead"))
        return cipher

    def _reload(self) -> None:
        """Another process (``keys rotate``) may have added a key to the key file: read it again."""
        if self.source is None or not self.source.exists():
            return
        fresh = read_key_file(self.source)
        self.keys.update(fresh.keys)
        self.current = fresh.current
        self._mtime = self.source.stat().st_mtime

    def _follow_file(self) -> None:
        # A rotation writes a new current key into the key file: every process starts sealing with it within
        # a couple of seconds, without a restart (a stat at most every two seconds).
        now = time.monotonic()
        if self.source is None or now - self._checked < 2.0:
            return
        self._checked = now
        try:
            mtime = self.source.stat().st_mtime
        except OSError:
            return
        if mtime != self._mtime:
            self._reload()

    # ---- bytes -------------------------------------------------------------------------------------
    def seal(self, data: bytes, kid: str | None = None) -> tuple[str, bytes]:
        if kid is None:
            self._follow_file()
            kid = self.current
        nonce = secrets.token_bytes(_NONCE)
        return kid, nonce + self._cipher(kid).encrypt(nonce, data, kid.encode())

    def open(self, kid: str, blob: bytes) -> bytes:
        return self._cipher(kid).decrypt(blob[:_NONCE], blob[_NONCE:], kid.encode())

    def seal_file(self, data: bytes) -> bytes:
        kid, blob = self.seal(data)
        return FILE_MAGIC + kid.encode() + blob

    def open_file(self, data: bytes) -> bytes:
        if not data.startswith(FILE_MAGIC):
            return data  # written before encryption
        kid = data[4:12].decode()
        return self.open(kid, data[12:])

    @staticmethod
    def file_key_id(data: bytes) -> str | None:
        return data[4:12].decode() if data.startswith(FILE_MAGIC) else None

    # ---- text --------------------------------------------------------------------------------------
    def seal_text(self, text: str) -> str:
        kid, blob = self.seal(text.encode())
        return f"{PREFIX}{kid}:{base64.b64encode(blob).decode()}"

    def open_text(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        kid, _, body = value[len(PREFIX) :].partition(":")
        return self.open(kid, base64.b64decode(body)).decode()

    def seal_json(self, value: Any) -> str:
        return self.seal_text(_COMPACT.encode(value))

    def open_json(self, value: Any) -> Any:
        """A stored JSON value: a sealed string, or (before encryption) the plain value itself."""
        if isinstance(value, str) and value.startswith(PREFIX):
            return json.loads(self.open_text(value))
        return value

    # ---- blind indexes -----------------------------------------------------------------------------
    def _index_key(self, kid: str) -> bytes:
        found = self._index.get(kid)
        if found is None:
            found = self._index[kid] = _derive(self.keys[kid], b"mustafid-blind-index")
        return found

    def blind_index(self, purpose: str, value: str, kid: str | None = None) -> str:
        """The index of a normalised value (the same ID always gives the same index under one key)."""
        kid = kid or self.current
        mac = hmac.new(self._index_key(kid), f"{purpose}\x00{value}".encode(), hashlib.sha256)
        return f"{kid}:{mac.hexdigest()[:40]}"

    def blind_indexes(self, purpose: str, value: str) -> list[str]:
        """The value's index under every key: what a look-up asks for while keys are rotated."""
        return [self.blind_index(purpose, value, kid) for kid in self.keys]


def sealed_key_id(value: Any) -> str | None:
    """The key id a stored value was sealed with (None when it is not sealed)."""
    if isinstance(value, str) and value.startswith(PREFIX):
        return value[len(PREFIX) :].partition(":")[0]
    return None


# ---- where keys come from --------------------------------------------------------------------------


def read_key_file(path: Path) -> Keyring:
    try:
        content = json.loads(path.read_text())
        keys = {kid: decode_key(text) for kid, text in content["keys"].items()}
        current = content["current"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataKeyError(f"the key file {path} cannot be read ({type(exc).__name__})") from None
    if current not in keys:
        raise DataKeyError(f"the key file {path} names a current key it does not hold")
    return Keyring(keys, current, path, _mtime=path.stat().st_mtime)


def write_key_file(path: Path, keys: dict[str, bytes], current: str) -> None:
    """Write the key file (mode 0600) in one rename, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = json.dumps(
        {"current": current, "keys": {kid: encode_key(k) for kid, k in keys.items()}}, indent=1
    )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _create_key_file(path: Path) -> None:
    """The first key, made once even when several workers start together: the file appears by a hard link,
    which fails when another process got there first (then its key is the key)."""
    key = new_key()
    draft = path.with_name(f".{path.name}.new.{secrets.token_hex(4)}")
    write_key_file(draft, {key_id(key): key}, key_id(key))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink(missing_ok=True)


_warned = False


def load_keyring(data_dir: Path, env_value: str | None, *, warn: bool = False) -> Keyring:
    """BOT_DATA_KEY when set; otherwise the key file under the data folder, created on first use. With ``warn``
    (the service's start-up) a key file brings a warning, once per process, that production must keep the key
    elsewhere."""
    global _warned
    if env_value and env_value.strip():
        return Keyring.of([decode_key(part) for part in env_value.split(",") if part.strip()])
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    if warn and not _warned:
        _warned = True
        log.warning(
            "BOT_DATA_KEY is not set: the data key is read from %s beside the data. "
            "In production set BOT_DATA_KEY from a secret store and keep the key out of backups of the data.",
            path,
        )
    return read_key_file(path)


_active: Keyring | None = None


def install(keyring: Keyring) -> Keyring:
    global _active
    _active = keyring
    return keyring


def active() -> Keyring:
    global _active
    if _active is None:
        _active = load_keyring(Path(os.environ.get("BOT_DATA_DIR", "./data")), os.environ.get("BOT_DATA_KEY"))
    return _active


# ---- columns ---------------------------------------------------------------------------------------


class EncryptedJSON(TypeDecorator):
    """A JSON column whose stored value is one sealed JSON string (still valid JSON, so no type change)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else active().seal_json(value)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else active().open_json(value)


class EncryptedText(TypeDecorator):
    """A text column holding a sealed string."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else active().seal_text(str(value))

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else active().open_text(value)
