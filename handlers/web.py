"""The web chat channel: a browser session <-> neutral messages (flows.messages).

A person is a random session token kept in an HttpOnly cookie; the contact's channel user id is the token's
SHA-256, so the database never holds the credential itself. Every message shown in the page (what the person
sent, what the assistant and the staff answered) is a row of the transcript (storage/web.py) numbered per
contact: the page asks for what comes after the last number it has, on load and after every reconnection,
and the server streams new rows as they are written. A notice for a person whose page is closed is a row
like any other, shown when they come back.

    chat = WebChat(service, files_dir=Path("data/files"), max_upload_bytes=10 * 1024 * 1024)
    server.add(web_routes(chat, allowed_origins=()))     # handlers/web_http.py
    desk.senders["web"] = chat.desk_sender                # staff replies, hand-backs
    Delivery(app, {"web": chat.outbox_sender, …}, …)      # decisions, reminders, polls
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import weakref
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from flows.messages import Attachment, ContactKey, Inbound, Outbound, stored_attachment
from storage import outbox, repo
from storage import web as transcript
from storage.db import Database
from storage.files import store_received
from storage.models import Contact

log = logging.getLogger(__name__)

CHANNEL = "web"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
MID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
FILE_REF = "file:"
_CLOSE = object()


class ConversationPort(Protocol):
    db: Database
    default_language: str

    async def handle(self, inbound: Inbound) -> list[Outbound]: ...


def new_token() -> str:
    return secrets.token_urlsafe(32)


def user_id_of(token: str) -> str:
    """The contact's channel user id for a session token (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()[:40]


def outbound_body(message: Outbound) -> dict[str, Any]:
    """A transcript row for one assistant message: what the page needs to draw it."""
    body: dict[str, Any] = {"text": message.text, "lang": message.lang, "expect": message.expect.value}
    if message.key:
        body["key"] = message.key
    if message.options:
        body["options"] = [[option.id, option.label] for option in message.options]
    attachment = message.extra.get("attachment")
    if isinstance(attachment, Attachment) and attachment.ref.startswith(FILE_REF):
        body["file"] = {
            "name": attachment.name or Path(attachment.ref).name,
            "mime": attachment.mime,
            "size": attachment.size,
            "ref": attachment.ref,
        }
    return body


def public_event(row: transcript.WebMessage) -> dict[str, Any]:
    """A transcript row as sent to the browser (a stored file's path stays on the server)."""
    body = dict(row.body)
    if "file" in body:
        body["file"] = {k: v for k, v in body["file"].items() if k != "ref"}
    return {"seq": row.seq, "role": row.role, **body}


class WebChat:
    def __init__(
        self,
        service: ConversationPort,
        *,
        files_dir: Path,
        max_upload_bytes: int,
        clock: Any = None,
    ) -> None:
        self.service = service
        self.db: Database = service.db
        self.files_dir = Path(files_dir)
        self.max_upload_bytes = max_upload_bytes
        self.clock = clock or getattr(service, "clock", None)
        self._listeners: dict[str, set[asyncio.Queue]] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.closing = False
        # With several workers (`run --workers N`) a staff reply or a notice may be written by another process:
        # open streams then also read the transcript every ``poll_seconds``. 0: one process, no polling.
        self.poll_seconds = 0.0

    def _lock(self, user_id: str) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[user_id] = lock
        return lock

    def _now(self):  # type: ignore[no-untyped-def]
        return self.clock.now()

    # -- the browser's side

    async def contact(self, user_id: str) -> Contact | None:
        async with self.db.transaction() as session:
            return await repo.find_contact(session, CHANNEL, user_id)

    async def language_of(self, user_id: str) -> str:
        contact = await self.contact(user_id)
        return contact.language if contact is not None else self.service.default_language

    async def history(self, user_id: str, after: int) -> list[dict[str, Any]]:
        contact = await self.contact(user_id)
        if contact is None:
            return []
        async with self.db.transaction() as session:
            rows = await transcript.after(session, contact.id, after)  # type: ignore[arg-type]
        return [public_event(row) for row in rows]

    async def start(self, user_id: str) -> list[dict[str, Any]]:
        """The greeting, once: a page opened on an empty conversation asks for it."""
        async with self._lock(user_id):
            async with self.db.transaction() as session:
                contact = await self._ensure_contact(session, user_id)
                if await transcript.after(session, contact.id, 0, limit=1):  # type: ignore[arg-type]
                    return []
            replies = await self.service.handle(
                Inbound(ContactKey(CHANNEL, user_id), f"web:start:{user_id}", text="/start")
            )
            return await self._record(contact, [], replies)

    async def receive(
        self,
        user_id: str,
        mid: str,
        *,
        text: str | None = None,
        option: str | None = None,
        label: str | None = None,
        attachment: Attachment | None = None,
    ) -> list[dict[str, Any]]:
        """One message from the page: shown in the transcript, handled, the replies shown after it. A message
        id seen before (the page resends what it could not confirm) is not acted on twice."""
        async with self._lock(user_id):
            mine: dict[str, Any] = {"mid": mid}
            if attachment is not None:
                mine["file"] = {"name": attachment.name, "mime": attachment.mime, "size": attachment.size}
                mine["text"] = ""
            else:
                mine["text"] = label if option is not None and label else text or ""
            async with self.db.transaction() as session:
                contact = await self._ensure_contact(session, user_id)
                for row in await transcript.after(session, contact.id, 0, limit=50):  # type: ignore[arg-type]
                    if row.role == "user" and row.body.get("mid") == mid:
                        return []
            inbound = Inbound(
                ContactKey(CHANNEL, user_id),
                f"web:{user_id[:16]}:{mid}",  # message ids come from the page: unique per person only
                text=text if attachment is None and option is None else None,
                option=option,
                attachments=(attachment,) if attachment is not None else (),
                at=self._now(),
            )
            replies = await self.service.handle(inbound)
            return await self._record(contact, [mine], replies)

    async def _ensure_contact(self, session: Any, user_id: str) -> Contact:
        found = await repo.find_contact(session, CHANNEL, user_id)
        if found is not None:
            return found
        contact, _created = await repo.get_or_create_contact(
            session, CHANNEL, user_id, self.service.default_language, self._now()
        )
        return contact

    async def _record(
        self, contact: Contact, mine: list[dict[str, Any]], replies: Sequence[Outbound]
    ) -> list[dict[str, Any]]:
        now = self._now()
        async with self.db.transaction() as session:
            rows = []
            if mine:
                rows += await transcript.append(session, contact.id, "user", mine, now)  # type: ignore[arg-type]
            if replies:
                bodies = [outbound_body(reply) for reply in replies]
                rows += await transcript.append(session, contact.id, "bot", bodies, now)  # type: ignore[arg-type]
        events = [public_event(row) for row in rows]
        self._publish(contact.channel_user_id, events)
        return events

    # -- what the staff desk and the outbox send

    async def deliver(self, contact: Contact, messages: Sequence[Outbound]) -> None:
        """Show messages in the person's page: live when it is open, on their return otherwise."""
        async with self._lock(contact.channel_user_id):
            await self._record(contact, [], messages)

    async def desk_sender(self, contact: Contact, messages: list[Outbound]) -> bool:
        await self.deliver(contact, messages)
        return True

    async def outbox_sender(self, contact: Contact, messages: Sequence[Outbound]) -> outbox.SendResult:
        try:
            await self.deliver(contact, messages)
        except Exception as error:  # the database was unreachable: the outbox retries
            return outbox.Transient(type(error).__name__, 0)
        return outbox.Sent()

    def file_path(self, body: dict[str, Any]) -> Path | None:
        """The stored file a transcript row shows (a staff member's file), if it is still there."""
        ref = (body.get("file") or {}).get("ref", "")
        if not ref.startswith(FILE_REF):
            return None
        path = Path(ref.removeprefix(FILE_REF))
        return path if path.is_file() else None

    async def row(self, user_id: str, seq: int) -> dict[str, Any] | None:
        contact = await self.contact(user_id)
        if contact is None:
            return None
        async with self.db.transaction() as session:
            row = await transcript.one(session, contact.id, seq)  # type: ignore[arg-type]
        return row.body if row is not None else None

    # -- uploads

    async def store_upload(self, data: bytes, name: str) -> Attachment:
        """Keep an uploaded file in the data folder, named by its hash, its type read from its bytes (never
        the name the browser gave); a file that does not open as an image or a PDF is not kept, and the
        conversation explains which types it takes."""
        clean = Path(name).name[:200] or "file"
        return stored_attachment(await store_received(self.files_dir, data, name=clean))

    # -- live streams

    def subscribe(self, user_id: str) -> asyncio.Queue:
        """Start collecting what is written for this person (before reading the history: nothing falls
        between the two)."""
        queue: asyncio.Queue = asyncio.Queue()
        self._listeners.setdefault(user_id, set()).add(queue)
        return queue

    def unsubscribe(self, user_id: str, queue: asyncio.Queue) -> None:
        listeners = self._listeners.get(user_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(user_id, None)

    async def stream(
        self, user_id: str, after: int, queue: asyncio.Queue, keepalive: float = 15.0
    ) -> AsyncIterator[dict | None]:
        """What the page is missing after ``after``, then each new message as it is written (None: a
        keep-alive). Ends when the server begins to stop, so the page reconnects to the next one."""
        try:
            last = after
            for event in await self.history(user_id, after):
                last = event["seq"]
                yield event
            quiet = 0.0
            while not self.closing:
                wait = min(keepalive, self.poll_seconds) if self.poll_seconds else keepalive
                try:
                    item = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    if self.poll_seconds:  # another worker may have written for this person
                        for event in await self.history(user_id, last):
                            last = event["seq"]
                            yield event
                    quiet += wait
                    if quiet >= keepalive:
                        quiet = 0.0
                        yield None
                    continue
                if item is _CLOSE:
                    return
                if item["seq"] > last:
                    last = item["seq"]
                    yield item
        finally:
            self.unsubscribe(user_id, queue)

    def _publish(self, user_id: str, events: list[dict[str, Any]]) -> None:
        for queue in self._listeners.get(user_id, ()):
            for event in events:
                queue.put_nowait(event)

    def close_streams(self) -> None:
        """The server is stopping: end every open stream (each page reconnects by itself)."""
        self.closing = True
        for queues in self._listeners.values():
            for queue in queues:
                queue.put_nowait(_CLOSE)

    @property
    def open_streams(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())

    def open_streams_of(self, user_id: str) -> int:
        return len(self._listeners.get(user_id, ()))

    async def last_seq(self, user_id: str) -> int:
        contact = await self.contact(user_id)
        if contact is None:
            return 0
        async with self.db.transaction() as session:
            return await transcript.last_seq(session, contact.id)  # type: ignore[arg-type]
