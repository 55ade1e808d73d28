"""WhatsApp webhook payloads -> inbox items -> neutral Inbound messages.

A signed POST is split into items (one per message, one per status), each recorded in ``wa_inbox``
before Meta gets its 200; the channel's worker later turns a message item into an ``Inbound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound

CHANNEL = "whatsapp"
MEDIA_REF = "wamedia:"  # an attachment not downloaded yet: "wamedia:<media id>"

# Kinds we answer with a short explanation instead of acting on them.
LOCATION_KINDS = frozenset({"location", "contacts"})
EXPLAINED_KINDS = frozenset({"sticker", "unsupported", "audio", "video", "reaction", "order", "system"})


def items_of(payload: Any) -> list[dict[str, Any]]:
    """The inbox items of one webhook body; [] for anything that is not a WhatsApp messages change."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return []
    items: list[dict[str, Any]] = []
    for entry in _list(payload.get("entry")):
        for change in _list(entry.get("changes") if isinstance(entry, dict) else None):
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            contacts = [c for c in _list(value.get("contacts")) if isinstance(c, dict)]
            for message in _list(value.get("messages")):
                if not isinstance(message, dict) or not isinstance(message.get("id"), str):
                    continue
                contact = _contact_for(message, contacts)
                user_id, wa_id = contact.get("user_id"), contact.get("wa_id") or message.get("from")
                person = user_id or wa_id
                if not isinstance(person, str) or not person:
                    continue
                items.append(
                    {
                        "dedup_key": f"m:{message['id']}"[:300],
                        "kind": "message",
                        "person": person[:200],
                        "payload": {
                            "message": message,
                            "user_id": user_id if isinstance(user_id, str) else None,
                            "wa_id": wa_id if isinstance(wa_id, str) else None,
                        },
                    }
                )
            for status in _list(value.get("statuses")):
                if not isinstance(status, dict) or not isinstance(status.get("id"), str):
                    continue
                person = status.get("recipient_user_id") or status.get("recipient_id") or "?"
                items.append(
                    {
                        "dedup_key": f"s:{status['id']}:{status.get('status')}"[:300],
                        "kind": "status",
                        "person": str(person)[:200],
                        "payload": {"status": status},
                    }
                )
    return items


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _contact_for(message: dict, contacts: list[dict]) -> dict:
    sender = message.get("from")
    user = message.get("from_user_id")
    for contact in contacts:
        if (user and contact.get("user_id") == user) or (sender and contact.get("wa_id") == sender):
            return contact
    return contacts[0] if len(contacts) == 1 else {"wa_id": sender, "user_id": user}


@dataclass(frozen=True)
class Parsed:
    """A message item: the Inbound for the conversation, or why it is not one."""

    inbound: Inbound | None
    explain: str | None = None  # "location" | "other": answered politely, not acted on
    poll_outbox_id: int | None = None  # the poll template's quick-reply button was pressed


def parse_message(key: str, message: dict[str, Any]) -> Parsed:
    """One ``messages[]`` element of the person whose contact key is ``key``."""
    contact = ContactKey(CHANNEL, key)
    message_id = f"wa:{message['id']}"
    at = _timestamp(message.get("timestamp"))
    kind = message.get("type")
    base = {"contact": contact, "message_id": message_id, "at": at}
    if kind == "text":
        body = (message.get("text") or {}).get("body")
        return Parsed(Inbound(text=body if isinstance(body, str) else "", **base))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type")) if isinstance(interactive, dict) else None
        if isinstance(reply, dict) and isinstance(reply.get("id"), str):
            return Parsed(Inbound(option=reply["id"], **base))
        return Parsed(None, explain="other")
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        payload = button.get("payload") if isinstance(button, dict) else None
        if isinstance(payload, str) and payload.startswith("poll:") and payload[5:].isdigit():
            return Parsed(None, poll_outbox_id=int(payload[5:]))
        text = button.get("text") if isinstance(button, dict) else None
        return Parsed(Inbound(text=text if isinstance(text, str) else "", **base))
    if kind in ("image", "document"):
        media = message.get(kind) or {}
        if not isinstance(media, dict) or not isinstance(media.get("id"), str):
            return Parsed(None, explain="other")
        attachment = Attachment(
            kind=AttachmentKind.PHOTO if kind == "image" else AttachmentKind.DOCUMENT,
            ref=MEDIA_REF + media["id"],
            mime=str(media.get("mime_type") or "application/octet-stream").split(";")[0].strip(),
            size=0,  # WhatsApp does not say; known once fetched
            name=media.get("filename") if isinstance(media.get("filename"), str) else None,
        )
        caption = media.get("caption")
        return Parsed(
            Inbound(text=caption if isinstance(caption, str) else None, attachments=(attachment,), **base)
        )
    if kind in LOCATION_KINDS:
        return Parsed(None, explain="location")
    return Parsed(None, explain="other")


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
