"""Neutral messages as Telegram sends them: texts cut to Telegram's size (measured in UTF-16 units), options
as inline buttons, and a turn's texts merged into as few messages as fit (split from handlers/telegram.py)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from flows.messages import Option, Outbound

MAX_TEXT_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
MAX_CALLBACK_DATA_BYTES = 64
CALLBACK_PREFIX = "o:"


def render(outbound: Outbound) -> list[dict[str, Any]]:
    """One Outbound as sendMessage keyword arguments (without chat_id): the text in chunks that fit,
    options as inline buttons (one per row) on the last chunk."""
    chunks = split_text(outbound.text)
    markup = _keyboard(outbound.options) if outbound.options else None
    if not chunks:
        if markup is None:
            return []
        chunks = ["…"]  # Telegram refuses an empty text, and buttons need a message to hang on
    messages: list[dict[str, Any]] = [{"text": chunk} for chunk in chunks]
    if markup is not None:
        messages[-1]["reply_markup"] = markup
    return messages


@lru_cache(maxsize=1024)
def _keyboard(options: tuple[Option, ...]) -> str:
    """The inline keyboard as the JSON text the Bot API takes for ``reply_markup``. Most keyboards repeat (the
    menu, yes/no, a form's choices), so each is serialised once: given the markup object, PTB would turn it
    into a dict on every request (35 µs for three buttons, bench/channel_load.py); a string it sends as is."""
    rows = []
    for option in options:
        data = CALLBACK_PREFIX + option.id
        if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
            raise ValueError(f"option id too long for Telegram callback_data: {option.id[:16]!r}…")
        rows.append([InlineKeyboardButton(option.label, callback_data=data)])
    return json.dumps(InlineKeyboardMarkup(rows).to_dict(), ensure_ascii=False, separators=(",", ":"))


def merge_turn(messages: Sequence[Outbound]) -> list[Outbound]:
    """A turn's several texts as few Telegram messages as fit: a plain text (no buttons, no file) joins the
    text message after it, a blank line between, when the two fit in one message. The buttons stay on the
    last message, as they were; a file keeps its own message."""
    merged: list[Outbound] = []
    for message in messages:
        if merged and _plain(merged[-1]) and message.extra.get("attachment") is None:
            head, tail = merged[-1].text.strip(), message.text.strip()
            joined = f"{head}\n\n{tail}" if head and tail else head or tail
            if utf16_len(joined) <= MAX_TEXT_UTF16:
                merged[-1] = replace(message, text=joined, extra={**merged[-1].extra, **message.extra})
                continue
        merged.append(message)
    return merged


def _plain(message: Outbound) -> bool:
    return not message.options and message.extra.get("attachment") is None


def split_text(text: str, limit: int = MAX_TEXT_UTF16) -> list[str]:
    """Split text into chunks of at most ``limit`` UTF-16 code units (how Telegram measures text),
    preferring paragraph, then line, then word boundaries; a single over-long word is cut between
    characters, never inside a surrogate pair or before a combining mark."""
    rest = text.strip()
    if len(rest) <= limit // 2:  # every character is at most two units: it fits without counting
        return [rest] if rest else []
    chunks: list[str] = []
    while rest:
        if utf16_len(rest) <= limit:
            chunks.append(rest)
            break
        cut = _boundary(rest, _fit(rest, limit))
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            chunks.append(head)
    return chunks


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """How many code points of ``text`` fit in ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _boundary(text: str, end: int) -> int:
    """Where to cut ``text`` at or before ``end``."""
    window = text[:end]
    half = end // 2
    for separator in ("\n\n", "\n", " "):
        index = window.rfind(separator)
        if index >= half:
            return index
    for separator in ("\n", " ", "\t"):
        index = window.rfind(separator)
        if index > 0:
            return index
    cut = end
    while cut > 1 and _joins_previous(text[cut - 1], text[cut]):
        cut -= 1
    return cut


def _joins_previous(before: str, after: str) -> bool:
    return (
        unicodedata.combining(after) > 0
        or unicodedata.category(after) in ("Mn", "Me", "Cf")
        or after in "\u200d\ufe0f"
        or before == "\u200d"
        or 0xD800 <= ord(after) <= 0xDFFF
    )
