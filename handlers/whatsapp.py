"""The WhatsApp channel (Cloud API): webhook items -> the conversation, replies and statuses back.

    client = GraphClient(token, phone_number_id, api_base)
    channel = WhatsAppChannel(app.service, client, templates, files_dir=…, limiter=…, alert=…)
    routes = whatsapp_routes(channel, verify_token=…, app_secret=…)    # GET/POST /whatsapp/webhook
    await channel.start()  …  await channel.stop()

The webhook records each message and status in ``wa_inbox`` before answering 200; ``channel``'s worker
handles the rows in order per person: messages go to the conversation service (attachments downloaded
through the media URL first), statuses update the outbox row (delivered/read times), fall back to the
template on 131047, mark a person unreachable on 131026 and retry 130429/131056 later. See docs/whatsapp.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from flows.messages import Attachment, ContactKey, Outbound
from flows.service import ConversationService
from flows.survey import render_poll
from flows.validators import DOCUMENT_TYPES
from handlers.whatsapp_graph import ErrorClass, GraphClient, GraphError, MediaTooLarge, classify
from handlers.whatsapp_inbound import CHANNEL, MEDIA_REF, items_of, parse_message
from handlers.whatsapp_sender import WhatsAppSender
from handlers.whatsapp_templates import Template
from handlers.whatsapp_webhook import whatsapp_routes
from locales import translator
from storage import repo
from storage import whatsapp as wa_repo
from storage.files import UNREADABLE, store_received
from storage.models import Contact
from storage.outbox import OutboxMessage, OutboxState, RateLimiter, RetryAfter, Sent, Transient

__all__ = ["CHANNEL", "GraphClient", "WhatsAppChannel", "WhatsAppSender", "whatsapp_routes"]

log = logging.getLogger(__name__)
Alert = Callable[[str, dict], Awaitable[None]]
_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # Meta's largest document


class WhatsAppChannel:
    def __init__(
        self,
        service: ConversationService,
        client: GraphClient,
        templates: dict[str, Template],
        *,
        files_dir: Any,
        max_file_bytes: int,
        limiter: RateLimiter | None = None,
        alert: Alert | None = None,
        batch: int = 200,
        reply_attempts: int = 4,
        reply_backoff: float = 0.5,
    ) -> None:
        self.service = service
        self.db = service.db
        self.clock = service.clock
        self.client = client
        self.files_dir = files_dir
        self.max_file_bytes = max_file_bytes
        self.sender = WhatsAppSender(client, self.db, self.clock, templates, limiter)
        self.alert = alert
        self.batch = batch
        self.reply_attempts = reply_attempts
        self.reply_backoff = reply_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def desk_sender(self, contact: Contact, messages: Sequence[Outbound]) -> bool:
        """The staff desk's relay (``StaffDesk.senders["whatsapp"]``): True when WhatsApp took them all."""
        return isinstance(await self.sender(contact, messages), Sent)

    # ---- webhook side ----------------------------------------------------------------------------

    async def record(self, payload: Any) -> int:
        """Record a signed webhook body's messages and statuses durably; returns how many were new."""
        items = items_of(payload)
        if not items:
            return 0
        async with self.db.transaction() as session:
            added = await wa_repo.record_inbox(session, items, self.clock.now())
        if added:
            self._idle.clear()
            self._wake.set()
        return added

    # ---- the worker ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
            self._wake.set()  # rows left from before a restart

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()

    async def idle(self) -> None:
        """Wait until every recorded row is handled (tests)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while await self.drain_once():
                    pass
            except Exception as error:  # noqa: BLE001 - the worker must survive; rows stay pending
                log.error("whatsapp inbox: a batch failed (%s)", type(error).__name__)
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            if not self._wake.is_set():
                self._idle.set()

    async def drain(self) -> int:
        """Handle every pending row now (tests and benchmarks without the worker)."""
        total = 0
        while handled := await self.drain_once():
            total += handled
        return total

    async def drain_once(self) -> int:
        async with self.db.transaction() as session:
            rows = await wa_repo.pending_inbox(session, self.batch)
        if not rows:
            return 0
        people: dict[str, list[wa_repo.WaInbox]] = {}
        for row in rows:
            people.setdefault(row.person, []).append(row)
        await asyncio.gather(*(self._person(queue) for queue in people.values()))
        return len(rows)

    async def _person(self, queue: list[wa_repo.WaInbox]) -> None:
        for row in queue:  # one person's rows in the order Meta sent them
            try:
                if row.kind == "message":
                    await self._message(row.payload)
                else:
                    await self._status(row.payload.get("status") or {})
            except Exception as error:  # noqa: BLE001 - one bad row must not block the person's next ones
                log.error("whatsapp inbox: row %s failed (%s)", row.id, type(error).__name__)
            async with self.db.transaction() as session:
                await wa_repo.inbox_done(session, row.id, self.clock.now())  # type: ignore[arg-type]

    # ---- messages --------------------------------------------------------------------------------

    async def _message(self, item: dict) -> None:
        message = item.get("message") or {}
        now = self.clock.now()
        async with self.db.transaction() as session:
            identity = await wa_repo.resolve_identity(
                session, item.get("user_id"), item.get("wa_id"), now, inbound_at=now
            )
        parsed = parse_message(identity.key, message)
        contact_key = ContactKey(CHANNEL, identity.key)
        if parsed.poll_outbox_id is not None:
            replies = await self._poll(contact_key, parsed.poll_outbox_id)
        elif parsed.inbound is None:
            replies = await self._explain(contact_key, parsed.explain or "other")
        else:
            inbound = parsed.inbound
            if inbound.attachments:
                inbound = replace(
                    inbound, attachments=tuple([await self._fetch(a) for a in inbound.attachments])
                )
            replies = await self.service.handle(inbound)
        if not replies:
            return
        async with self.db.transaction() as session:
            contact, _ = await repo.get_or_create_contact(
                session, CHANNEL, identity.key, self.service.default_language, now
            )
        await self._reply(contact, identity, replies)

    async def _reply(self, contact: Contact, identity: wa_repo.WaIdentity, replies: list[Outbound]) -> None:
        """A turn's replies, retried in place on rate limits and Meta's transient errors (they are not in
        the outbox); a refusal is logged by code only."""
        for attempt in range(self.reply_attempts):
            result = await self.sender.send(contact, identity, replies)
            if isinstance(result, Sent):
                return
            if isinstance(result, (RetryAfter, Transient)) and attempt + 1 < self.reply_attempts:
                replies = replies[result.delivered :]
                delay = result.seconds if isinstance(result, RetryAfter) else self.reply_backoff * 2**attempt
                await asyncio.sleep(delay)
                continue
            log.warning("whatsapp: a reply was not delivered (%s)", type(result).__name__)
            return

    async def _lang(self, key: ContactKey) -> str:
        state = await self.service.contact_state(key)
        return state.lang if state is not None else self.service.default_language

    async def _explain(self, key: ContactKey, why: str) -> list[Outbound]:
        """A location, contact card, sticker, reaction or unsupported message: a short, polite answer."""
        state = await self.service.contact_state(key)
        if state is not None and state.held:
            return []  # a person holds the conversation: they see nothing of it, and the bot stays quiet
        lang = await self._lang(key)
        t = translator(lang)
        name = "wa.unsupported_location" if why == "location" else "wa.unsupported_kind"
        return [Outbound(text=t(name), key=name, lang=lang)]

    async def _poll(self, key: ContactKey, outbox_id: int) -> list[Outbound]:
        """The poll template's button: send the poll itself (the window is open now)."""
        async with self.db.transaction() as session:
            row = (
                await session.execute(select(OutboxMessage).where(OutboxMessage.id == outbox_id))
            ).scalar_one_or_none()
            contact = await repo.find_contact(session, key.channel, key.user_id)
        if (
            row is None
            or contact is None
            or row.contact_id != contact.id
            or row.kind not in ("survey", "survey_reminder")
        ):
            return await self._explain(key, "other")
        return render_poll(row.payload, contact.language, reminder=False)

    async def _fetch(self, attachment: Attachment) -> Attachment:
        """Download an acceptable file through the media URL into files_dir; a file too big or of a type
        we do not take is passed on undownloaded with what we know, and the core explains."""
        if not attachment.ref.startswith(MEDIA_REF) or attachment.mime not in DOCUMENT_TYPES:
            return attachment
        media_id = attachment.ref.removeprefix(MEDIA_REF)
        try:
            info = await self.client.media_info(media_id)
            size = int(info.get("file_size") or 0)
            if size > self.max_file_bytes:
                return replace(attachment, size=size)
            try:
                data = await self.client.download(info["url"], self.max_file_bytes)
            except GraphError as error:
                if error.status != 404:
                    raise
                info = await self.client.media_info(media_id)  # the URL expired: ask for a new one
                data = await self.client.download(info["url"], self.max_file_bytes)
        except MediaTooLarge as error:
            return replace(attachment, size=error.size)
        except (GraphError, httpx.HTTPError) as error:
            log.warning("whatsapp media download failed (%s)", type(error).__name__)
            return replace(attachment, size=self.max_file_bytes + 1, mime="application/octet-stream")
        return await store_media(self.files_dir, attachment, data)

    # ---- statuses --------------------------------------------------------------------------------

    async def _status(self, status: dict) -> None:
        wamid, state = status.get("id"), status.get("status")
        at = _time(status.get("timestamp")) or self.clock.now()
        errors = status.get("errors") if isinstance(status.get("errors"), list) else []
        code = errors[0].get("code") if errors and isinstance(errors[0], dict) else None
        async with self.db.transaction() as session:
            sent = await wa_repo.sent_by_wamid(session, str(wamid))
            if sent is None:
                return
            if state == "delivered":
                sent.delivered_at = sent.delivered_at or at
            elif state == "read":
                sent.delivered_at = sent.delivered_at or at
                sent.read_at = sent.read_at or at
            if state in ("sent", "delivered", "read", "failed") and sent.status != "read":
                sent.status = state
            if state == "failed":
                sent.error_code = str(code)[:16] if code is not None else "?"
            session.add(sent)
            if sent.outbox_id is not None and state in ("delivered", "read"):
                values: dict[str, Any] = {}
                row = (
                    await session.execute(select(OutboxMessage).where(OutboxMessage.id == sent.outbox_id))
                ).scalar_one_or_none()
                if row is not None:
                    if row.delivered_at is None:
                        values["delivered_at"] = at
                    if state == "read" and row.read_at is None:
                        values["read_at"] = at
                if values:
                    await session.execute(
                        update(_OUTBOX).where(_OUTBOX.c.id == sent.outbox_id).values(**values)
                    )
        if state == "failed":
            await self._failed(sent, code if isinstance(code, int) else None)

    async def _failed(self, sent: wa_repo.WaSent, code: int | None) -> None:
        kind = classify(code)
        now = self.clock.now()
        row_id = sent.outbox_id
        async with self.db.transaction() as session:
            row = None
            if row_id is not None:
                row = (
                    await session.execute(select(OutboxMessage).where(OutboxMessage.id == row_id))
                ).scalar_one_or_none()
            if kind is ErrorClass.WINDOW and row is not None and not sent.template:
                # Sent free-form but the window had closed: send the row again, as its template.
                await self._requeue(session, row, now, "131047", {"wa_template": True})
            elif kind is ErrorClass.RATE and row is not None:
                await self._requeue(session, row, now + timedelta(seconds=6), str(code), {})
            elif kind is ErrorClass.UNREACHABLE:
                contact = (
                    await session.execute(select(Contact).where(Contact.id == sent.contact_id))
                ).scalar_one_or_none()
                if row is not None:
                    await self._kill(session, row, "131026")
                if contact is not None:
                    await repo.mark_unreachable(session, contact, now, reason="131026")
            elif row is not None and kind is not ErrorClass.WINDOW:
                await self._kill(session, row, str(code))
        if kind is ErrorClass.UNREACHABLE and self.alert is not None:
            detail = {
                "contact_id": sent.contact_id,
                "channel": CHANNEL,
                "outbox_id": row_id,
                "kind": "131026",
            }
            try:
                await self.alert("contact.blocked", detail)
            except Exception as error:  # noqa: BLE001 - the rows are marked; a failed alert is only logged
                log.error("whatsapp: the unreachable alert failed (%s)", type(error).__name__)

    async def _requeue(
        self, session: Any, row: OutboxMessage, due: datetime, error: str, extra: dict
    ) -> None:
        await session.execute(
            update(_OUTBOX)
            .where(
                _OUTBOX.c.id == row.id,
                _OUTBOX.c.state.in_([OutboxState.SENT.value, OutboxState.PENDING.value]),
            )
            .values(
                state=OutboxState.PENDING.value,
                due_at=due,
                parts_sent=0,
                lease_until=None,
                last_error=error[:64],
                payload={**row.payload, **extra},
            )
        )

    async def _kill(self, session: Any, row: OutboxMessage, error: str) -> None:
        await session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id == row.id)
            .values(state=OutboxState.DEAD.value, last_error=error[:64])
        )


async def store_media(files_dir: Any, attachment: Attachment, data: bytes) -> Attachment:
    """Keep a downloaded file in the project's file store (the one place WhatsApp stores files). The bytes
    decide the type, not what the sender's phone declared; what does not open is not kept, and the form
    refuses it and says why."""
    stored = await store_received(files_dir, data, name=attachment.name)
    if stored.mime == UNREADABLE:
        return replace(attachment, mime=UNREADABLE, size=len(data))
    return replace(attachment, ref=stored.ref, mime=stored.mime, size=len(data), sha256=stored.sha256)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
