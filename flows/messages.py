"""Channel-neutral messages: what every channel turns its payloads into, and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Attachment:
    """A file the contact sent. `ref` is the channel's own handle (Telegram file_id, WhatsApp media id,
    or a stored path for the console); the bytes are fetched by the channel when it is accepted."""

    kind: AttachmentKind
    ref: str
    mime: str
    size: int
    name: str | None = None
    sha256: str | None = None


def stored_attachment(stored: Any) -> Attachment:
    """The neutral Attachment for what the file store kept (storage.files.StoredFile, which has the same
    fields; storage does not import flows)."""
    return Attachment(
        kind=AttachmentKind(stored.kind),
        ref=stored.ref,
        mime=stored.mime,
        size=stored.size,
        name=stored.name,
        sha256=stored.sha256,
    )


@dataclass(frozen=True)
class ContactKey:
    channel: str  # "console", "telegram", "whatsapp", "web"
    user_id: str  # the channel's own user id, as text


@dataclass(frozen=True)
class Inbound:
    contact: ContactKey
    message_id: str  # unique per channel: used to ignore a re-delivered message
    text: str | None = None
    option: str | None = None  # the id of a chosen option (button press)
    attachments: tuple[Attachment, ...] = ()
    language_hint: str | None = None  # e.g. Telegram's user.language_code
    at: datetime | None = None


@dataclass(frozen=True)
class Option:
    id: str  # short, ASCII, at most 32 characters: fits Telegram callback_data and WhatsApp ids
    label: str


class Expect(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    ATTACHMENT = "attachment"
    RATING = "rating"


@dataclass(frozen=True)
class Outbound:
    """One message to the contact, already translated into the contact's language."""

    text: str
    key: str = ""  # the message key of the main text, for tests and analytics (never shown)
    options: tuple[Option, ...] = ()
    expect: Expect = Expect.TEXT
    lang: str = "ar"
    extra: dict = field(default_factory=dict, compare=False)
