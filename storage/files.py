"""Received files, for every channel: the type is decided by opening the bytes, never by a name.

An image is what Pillow opens and decodes; a PDF is what pypdf opens with at least one page. Anything else
is ``application/octet-stream`` and is never written: the form's validators refuse it and say why.
Accepted files are written once under one folder (mode 0700), named by their SHA-256, readable by the
service user only (mode 0600), sealed with the data key (storage/crypto.py): read them back with
``read_stored``. Two writers of the same bytes at once both succeed: each writes its own
temporary name, and "already there with the same hash" counts as done.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import active

FILE_REF = "file:"
UNREADABLE = "application/octet-stream"
_PILLOW_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}
PHOTO, DOCUMENT = "photo", "document"  # = flows.messages.AttachmentKind values


@dataclass(frozen=True)
class StoredFile:
    """What the store kept (or refused): the fields of a neutral Attachment (flows.messages.Attachment
    is made from it by ``flows.messages.stored_attachment``)."""

    kind: str
    ref: str
    mime: str
    size: int
    name: str | None = None
    sha256: str | None = None


def sniff(data: bytes) -> str:
    """The type the bytes really are: an image Pillow decodes, a PDF pypdf reads, else octet-stream."""
    if not data:
        return UNREADABLE
    if b"%PDF-" in data[:1024]:  # a PDF's mark: pypdf first, not after Pillow has tried every image format
        return _pdf_type(data) or _image_type(data) or UNREADABLE
    return _image_type(data) or UNREADABLE


def _image_type(data: bytes) -> str | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = _PILLOW_TYPES.get(image.format or "")
                if kind is None:
                    return None
                image.verify()
            # verify() checks structure only; decoding the pixels catches a truncated or corrupt body.
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except Exception:  # Pillow raises many types for bad input (OSError, SyntaxError, ValueError, bombs)
        return None
    return kind


def _pdf_type(data: bytes) -> str | None:
    if b"%PDF-" not in data[:1024]:
        return None
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on a damaged file are noise here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                reader.decrypt("")
            if len(reader.pages) < 1:
                return None
    except Exception:  # pypdf raises many types for a damaged file
        return None
    return "application/pdf"


class FileStore:
    """Where accepted files live. ``store`` -> a StoredFile whose ``ref`` is ``file:<path>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def store(
        self,
        data: bytes,
        *,
        name: str | None = None,
        kind: str | None = None,
    ) -> StoredFile:
        """Keep ``data`` if it opens as an image or a PDF. When it does not, nothing is written and the
        StoredFile comes back with mime ``application/octet-stream`` and a ``ref`` starting ``unread:``, so
        the form refuses it and says why."""
        checked = self.check(data, name=name, kind=kind)
        if checked.ref.startswith(FILE_REF):
            write_once(Path(checked.ref.removeprefix(FILE_REF)), data)
        return checked

    def check(self, data: bytes, *, name: str | None = None, kind: str | None = None) -> StoredFile:
        """What ``store`` returns for ``data``, without writing it: the bytes opened (CPU only)."""
        mime = sniff(data)
        digest = hashlib.sha256(data).hexdigest()
        if kind is None or mime == "application/pdf" or (kind == PHOTO and mime == UNREADABLE):
            kind = PHOTO if mime.startswith("image/") else DOCUMENT
        if mime == UNREADABLE:
            ref = f"unread:{digest}"
            return StoredFile(kind=kind, ref=ref, mime=mime, size=len(data), name=name, sha256=digest)
        path = self.root / f"{digest}{_SUFFIX.get(mime, '')}"
        return StoredFile(
            kind=kind, ref=FILE_REF + str(path), mime=mime, size=len(data), name=name, sha256=digest
        )

    def delete(self, ref: str) -> bool:
        """Remove a stored file (by its ``file:`` ref); False when it was not there or is not ours."""
        path = self.path_of(ref)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def path_of(self, ref: str) -> Path | None:
        if not ref.startswith(FILE_REF):
            return None
        path = Path(ref.removeprefix(FILE_REF))
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        return path


# Received files up to this size are opened on the event loop (their check takes a millisecond or two) and only
# written from a worker thread. A thread gains nothing for them: pypdf is pure Python, so a thread cannot run
# it beside the loop, only take turns with it, and each time a thread wants the interpreter back (after every
# system call) it waits up to the 5 ms switch interval while the loop is busy: with 16 chats sending files at
# once, a file message took 23-34 ms at the median (bench/channel_load.py).
# Larger files are opened in a thread too: Pillow decodes without holding the interpreter, and a long parse
# at least takes turns with the other chats.
INLINE_CHECK_BYTES = 32 * 1024


async def store_received(root: Path, data: bytes, *, name: str | None = None) -> StoredFile:
    """``FileStore(root).store(data, name=name)`` for a channel's event loop: the disk is written from a
    worker thread (it may wait on the disk), and a large file is also opened there."""
    store = FileStore(root)
    if len(data) > INLINE_CHECK_BYTES:
        return await asyncio.to_thread(store.store, data, name=name)
    checked = store.check(data, name=name)
    path = Path(checked.ref.removeprefix(FILE_REF))
    # Already kept (the same bytes sent again) is a stat and a small read; only a write goes to the thread.
    if checked.ref.startswith(FILE_REF) and not (path.exists() and _same(path, data)):
        await asyncio.to_thread(write_once, path, data)
    return checked


def read_stored(path: Path) -> bytes:
    """A stored file's bytes, opened with the data key (a file written before encryption reads as it is)."""
    return active().open_file(Path(path).read_bytes())


def write_once(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` (named by the data's hash) unless it is already there. Safe against another
    writer of the same bytes: each writes a private temporary file and renames it over; a file already there
    with the same hash is success."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    if path.exists() and _same(path, data):
        return
    replace_atomically(path, active().seal_file(data))


def replace_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file of this writer's own (0600, as mkstemp makes
    it) in the same folder, then replace: a reader sees the old file or the new one, never half of it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _same(path: Path, data: bytes) -> bool:
    try:
        return read_stored(path) == data
    except FileNotFoundError:
        return False


def refs_in(value: object) -> set[str]:
    """Every stored-file ref (``file:…``) inside a JSON-like value (a draft, a request's data)."""
    found: set[str] = set()
    if isinstance(value, str):
        if value.startswith(FILE_REF):
            found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            found |= refs_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= refs_in(item)
    return found


async def refs_in_use(
    session: AsyncSession, refs: set[str], *, except_contact: int | None = None
) -> set[str]:
    """Which of ``refs`` something still points at: a submitted request's attachment, or another contact's
    unfinished form (files are named by content, so two people can send the same bytes)."""
    from storage.models import Attachment as StoredAttachment
    from storage.models import Conversation

    if not refs:
        return set()
    rows = await session.execute(select(StoredAttachment.ref).where(StoredAttachment.ref.in_(list(refs))))
    used = {ref for (ref,) in rows}
    left = refs - used
    if not left:
        return used
    # Drafts are sealed at rest: open them here rather than searching their text in SQL.
    statement = select(Conversation.contact_id, Conversation.state)
    if except_contact is not None:
        statement = statement.where(Conversation.contact_id != except_contact)
    for _contact_id, state in await session.execute(statement):
        used |= left & refs_in(state)
        if used >= refs:
            break
    return used
