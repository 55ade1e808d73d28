"""Neutral outbound messages -> WhatsApp Cloud API message bodies (without ``to``/``recipient``).

Up to 3 options: reply buttons (titles at most 20 characters and unique); 4-10: a list (button text 20,
row titles 24, descriptions 72, row ids 200); more, or labels that fit neither: a numbered text list
(typing the number or the words works, as on every channel). A label too long for a button uses its
short-label message key ``wa.short.<option id>`` when the catalog has one; words are never cut.
Interactive bodies are at most 1,024 characters (a longer text goes first as its own message); texts
over 4,096 characters are split at sentence boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flows.messages import Attachment, AttachmentKind, Option, Outbound
from locales import N_, translator

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
MAX_LIST_BUTTON = 20
MAX_CAPTION = 1024
UPLOAD = "_upload"  # a body key the sender replaces with the uploaded media id

# Short labels for options whose label is too long for a button (20) or a list row (24); the catalog
# holds them as "wa.short.<option id>".
SHORT_LABELS = (N_("wa.short.menu.unclear"), N_("wa.short.menu.feedback"))
EXPLANATIONS = (N_("wa.unsupported_location"), N_("wa.unsupported_kind"))
CHOOSE, LIST_BUTTON, TYPE_NUMBER = N_("wa.choose"), N_("wa.list_button"), N_("wa.type_number")

_SENTENCE_END = re.compile(r"(?<=[.!?؟。\n])\s+|(?<=[.!?؟])(?=\S)")


def short_key(option_id: str) -> str:
    """The short-label message key of an option: per-person parts (a poll's token) are dropped."""
    parts = option_id.split(".")
    if parts[0] == "rate" and len(parts) == 3:
        return f"wa.short.rate.{parts[2]}"
    return f"wa.short.{option_id}"


def short_label(option: Option, lang: str, limit: int) -> str | None:
    """The option's label when it fits ``limit``, else its short label, else None."""
    label = option.label.strip()
    if 0 < len(label) <= limit:
        return label
    t = translator(lang)
    key = short_key(option.id)
    if t.has(key):
        short = t(key).strip()
        if 0 < len(short) <= limit:
            return short
    return None


def render(outbound: Outbound) -> list[dict[str, Any]]:
    """One neutral message -> the WhatsApp message bodies to send, in order."""
    attachment = outbound.extra.get("attachment") if outbound.extra else None
    if isinstance(attachment, Attachment):
        return _media(outbound, attachment)
    options = outbound.options
    if not options:
        return [_text(part) for part in split_text(outbound.text)]
    interactive = _buttons(outbound) if len(options) <= MAX_BUTTONS else None
    if interactive is None and len(options) <= MAX_ROWS:
        interactive = _list(outbound)
    if interactive is None:
        return [_text(part) for part in split_text(numbered_text(outbound))]
    bodies: list[dict[str, Any]] = []
    body = outbound.text.strip()
    if len(body) > MAX_INTERACTIVE_BODY or not body:
        bodies += [_text(part) for part in split_text(body)] if body else []
        body = translator(outbound.lang)(CHOOSE)
    interactive["body"] = {"text": body}
    bodies.append({"type": "interactive", "interactive": interactive})
    return bodies


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _buttons(outbound: Outbound) -> dict[str, Any] | None:
    titles = [short_label(option, outbound.lang, MAX_BUTTON_TITLE) for option in outbound.options]
    if any(title is None for title in titles) or len(set(titles)) != len(titles):
        return None
    if any(len(option.id) > MAX_BUTTON_ID for option in outbound.options):
        return None
    buttons = [
        {"type": "reply", "reply": {"id": option.id, "title": title}}
        for option, title in zip(outbound.options, titles, strict=True)
    ]
    return {"type": "button", "action": {"buttons": buttons}}


def _list(outbound: Outbound) -> dict[str, Any] | None:
    rows = []
    for option in outbound.options:
        if len(option.id) > MAX_ROW_ID:
            return None
        title = short_label(option, outbound.lang, MAX_ROW_TITLE)
        row: dict[str, Any] = {"id": option.id}
        label = option.label.strip()
        if title is None:
            if len(label) > MAX_ROW_DESCRIPTION:
                return None
            # No short label: a number as the title, the whole label as the description.
            title = translator(outbound.lang).number(len(rows) + 1)
            row["description"] = label
        elif title != label and len(label) <= MAX_ROW_DESCRIPTION:
            row["description"] = label
        row["title"] = title
        rows.append(row)
    if len({row["title"] for row in rows}) != len(rows):
        return None
    button = translator(outbound.lang)(LIST_BUTTON)[:MAX_LIST_BUTTON]
    return {"type": "list", "action": {"button": button, "sections": [{"rows": rows}]}}


def numbered_text(outbound: Outbound) -> str:
    t = translator(outbound.lang)
    lines = [outbound.text.strip(), ""]
    for number, option in enumerate(outbound.options, start=1):
        lines.append(f"{t.number(number)}. {option.label}")
    lines += ["", t(TYPE_NUMBER)]
    return "\n".join(lines)


def _media(outbound: Outbound, attachment: Attachment) -> list[dict[str, Any]]:
    kind = "image" if attachment.kind == AttachmentKind.PHOTO else "document"
    caption = outbound.text.strip()
    bodies: list[dict[str, Any]] = []
    if len(caption) > MAX_CAPTION:
        bodies += [_text(part) for part in split_text(caption)]
        caption = ""
    media: dict[str, Any] = {UPLOAD: attachment}
    if caption:
        media["caption"] = caption
    if kind == "document" and attachment.name:
        media["filename"] = attachment.name[:240]
    bodies.append({"type": kind, kind: media})
    return bodies


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most ``limit`` characters, cut after a sentence (or a line, or a space) when possible."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max((m.start() for m in _SENTENCE_END.finditer(window)), default=-1)
        if cut <= limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def merge_turn(messages: Sequence[Outbound]) -> list[Outbound]:
    """A turn's several texts as few messages as fit: a plain text joins the message after it (the
    pair rate allows about one message every 6 s to one person)."""
    merged: list[Outbound] = []
    for message in messages:
        if merged and _plain(merged[-1]) and not (message.extra or {}).get("attachment"):
            previous = merged[-1]
            limit = MAX_INTERACTIVE_BODY if message.options else MAX_TEXT
            joined = f"{previous.text.strip()}\n\n{message.text.strip()}"
            if len(joined) <= limit:
                merged[-1] = replace(message, text=joined, extra={**previous.extra, **message.extra})
                continue
        merged.append(message)
    return merged


def _plain(message: Outbound) -> bool:
    return not message.options and not (message.extra or {}).get("attachment")


def body_within_limits(body: dict[str, Any]) -> list[str]:
    """What in one message body breaks WhatsApp's limits (empty when it fits); used by tests and the fake."""
    problems: list[str] = []
    kind = body.get("type")
    if kind == "text":
        text = body.get("text", {}).get("body", "")
        if not 0 < len(text) <= MAX_TEXT:
            problems.append(f"text body length {len(text)}")
    elif kind == "interactive":
        interactive = body.get("interactive", {})
        text = interactive.get("body", {}).get("text", "")
        if not 0 < len(text) <= MAX_INTERACTIVE_BODY:
            problems.append(f"interactive body length {len(text)}")
        action = interactive.get("action", {})
        if interactive.get("type") == "button":
            buttons = action.get("buttons", [])
            titles = [b["reply"]["title"] for b in buttons]
            if not 0 < len(buttons) <= MAX_BUTTONS:
                problems.append(f"{len(buttons)} buttons")
            if len(set(titles)) != len(titles):
                problems.append("button titles not unique")
            for button in buttons:
                if not 0 < len(button["reply"]["title"]) <= MAX_BUTTON_TITLE:
                    problems.append(f"button title {button['reply']['title']!r}")
                if not 0 < len(button["reply"]["id"]) <= MAX_BUTTON_ID:
                    problems.append("button id length")
        elif interactive.get("type") == "list":
            if not 0 < len(action.get("button", "")) <= MAX_LIST_BUTTON:
                problems.append("list button text")
            rows = [row for section in action.get("sections", []) for row in section.get("rows", [])]
            if not 0 < len(rows) <= MAX_ROWS:
                problems.append(f"{len(rows)} rows")
            for row in rows:
                if not 0 < len(row.get("title", "")) <= MAX_ROW_TITLE:
                    problems.append(f"row title {row.get('title')!r}")
                if len(row.get("description", "")) > MAX_ROW_DESCRIPTION:
                    problems.append("row description length")
                if not 0 < len(row.get("id", "")) <= MAX_ROW_ID:
                    problems.append("row id length")
        else:
            problems.append(f"interactive type {interactive.get('type')!r}")
    elif kind in ("image", "document"):
        caption = body.get(kind, {}).get("caption", "")
        if len(caption) > MAX_CAPTION:
            problems.append("caption length")
    elif kind != "template":
        problems.append(f"type {kind!r}")
    return problems
