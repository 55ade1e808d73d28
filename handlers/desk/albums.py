"""A beneficiary's files for the staff group, grouped into albums (sendMediaGroup).

Files a person sends while their earlier ones wait in the staff queue are merged into one row; they are
posted as albums of up to 10 (Telegram's maximum), photos in one and documents in another (Telegram does
not mix documents with photos in an album), the thread's header as the caption of the first file. Staff
see a person's files together, under one header, with one notification, and can reply to any of them to
answer the person. Listing the files in a text post instead would spare window entries but would make staff
press a button to see what they must judge (an ID, a salary slip). An album counts one window entry per
file (FloodLimiter). A single file is sent alone; an album Telegram refuses is sent file by file, and a file
that cannot be sent is said to be unavailable: nothing is dropped without a word."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telegram import InputMediaDocument, InputMediaPhoto, Message

from flows.messages import Attachment, AttachmentKind
from handlers.telegram import FILE_REF, TELEGRAM_REF, TelegramChannel
from storage.files import read_stored

log = logging.getLogger(__name__)

ALBUM_MAX = 10


def sendable(attachment: Attachment | None) -> bool:
    return isinstance(attachment, Attachment) and attachment.ref.startswith((FILE_REF, TELEGRAM_REF))


def albums(attachments: Sequence[Attachment]) -> list[list[Attachment]]:
    """Photos, then documents, in order, in groups of at most ``ALBUM_MAX``."""
    photos = [a for a in attachments if a.kind == AttachmentKind.PHOTO]
    documents = [a for a in attachments if a.kind != AttachmentKind.PHOTO]
    return [kind[i : i + ALBUM_MAX] for kind in (photos, documents) for i in range(0, len(kind), ALBUM_MAX)]


async def _media(attachment: Attachment, caption: str | None) -> InputMediaPhoto | InputMediaDocument:
    content: Any
    filename = None
    if attachment.ref.startswith(TELEGRAM_REF):
        content = attachment.ref.removeprefix(TELEGRAM_REF)
    else:
        path = Path(attachment.ref.removeprefix(FILE_REF))
        content, filename = await asyncio.to_thread(read_stored, path), attachment.name or path.name
    if attachment.kind == AttachmentKind.PHOTO:
        return InputMediaPhoto(content, caption=caption or None, filename=filename)
    return InputMediaDocument(content, caption=caption or None, filename=filename)


async def post_album(
    channel: TelegramChannel,
    chat_id: int,
    files: Sequence[Attachment],
    caption: str,
    placement: dict[str, Any],
) -> list[Message | None]:
    """Post ``files`` (of one kind, at most ``ALBUM_MAX``): one message per file, None where a file could
    not be posted."""
    if len(files) > 1:
        try:
            media = [await _media(a, caption if i == 0 else None) for i, a in enumerate(files)]
        except (OSError, ValueError) as exc:
            log.warning("a file for an album could not be read (%s)", type(exc).__name__)
        else:
            _, sent = await channel.call(lambda: channel.bot.send_media_group(chat_id, media, **placement))
            if sent is not None:
                return list(sent)
    posted: list[Message | None] = []
    for attachment in files:  # one at a time: a single file, or an album Telegram refused
        message = None
        try:
            _, message = await channel.call(
                lambda a=attachment: channel.send_file(chat_id, a, caption=caption, **placement)
            )
        except (OSError, ValueError) as exc:
            log.warning("a beneficiary's file could not be copied to the staff chat (%s)", type(exc).__name__)
        posted.append(message)
    return posted
