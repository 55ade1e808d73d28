"""Sending to a WhatsApp person: replies of a turn and outbox notifications, within the 24-hour window
(else as a template), the number's rate and the pair rate. One attempt per call; the outbox retries.

    sender = WhatsAppSender(client, db, clock, templates, limiter)
    worker = OutboxWorker(db, clock, {"whatsapp": sender}, render, max_attempts)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from flows.messages import Attachment, Outbound
from handlers.whatsapp_graph import PAIR_RATE, ErrorClass, GraphClient, GraphError, retry_seconds
from handlers.whatsapp_render import UPLOAD, merge_turn, render
from handlers.whatsapp_templates import Template, template_for, template_message
from storage import outbox
from storage import whatsapp as wa_repo
from storage.db import Database
from storage.files import read_stored
from storage.models import Contact
from storage.outbox import ChannelLimits, Clock, RateLimiter, SendResult

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)
OUTBOX_EXTRA = "outbox"  # Outbound.extra key: {"id", "kind", "payload"} of the row being sent


def whatsapp_limits(rate: float) -> ChannelLimits:
    """The number's rate (BOT_WHATSAPP_RATE) and Meta's pair rate: 1 message per 6 s to one person.
    Meta lets bursts of up to 45 borrow from later quota; 10 keep a quick conversation's replies
    immediate while a long series to one person settles at the pair rate."""
    # A fifth of a second's worth at once for the number: after a pause (a slow database write) the
    # sender catches up instead of losing that time.
    return ChannelLimits(
        overall_per_second=rate,
        per_chat_per_second=1 / 6,
        per_chat_burst=10,
        overall_burst=max(1, round(rate / 5)),
    )


class WhatsAppSender:
    def __init__(
        self,
        client: GraphClient,
        db: Database,
        clock: Clock,
        templates: dict[str, Template],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.templates = templates
        self.limiter = limiter
        self.rate_errors = 0
        self._batch: dict[str, wa_repo.WaIdentity] = {}  # 130429/131056 received, for benchmarks and logs

    async def prepare(self, contacts: Sequence[Contact]) -> None:
        """The outbox worker's batch: load every person's identity in one query instead of one each."""
        keys = [c.channel_user_id for c in contacts]
        async with self.db.transaction() as session:
            self._batch = await wa_repo.identities_of(session, keys) if keys else {}

    async def __call__(self, contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        """The outbox's sender: ``messages`` are one row's rendered notification."""
        identity = self._batch.get(contact.channel_user_id)
        if identity is None:
            async with self.db.transaction() as session:
                identity = await wa_repo.identity_of(session, key=contact.channel_user_id)
        return await self.send(contact, identity, messages)

    async def send(
        self, contact: Contact, identity: wa_repo.WaIdentity | None, messages: Sequence[Outbound]
    ) -> SendResult:
        address = _address(identity, contact.channel_user_id)
        row = next((m.extra.get(OUTBOX_EXTRA) for m in messages if m.extra.get(OUTBOX_EXTRA)), None)
        template = template_for(self.templates, row["kind"], row["payload"]) if row else None
        if row is not None and template is not None:
            closed = identity is None or identity.last_inbound_at is None
            if not closed:
                closed = self.clock.now() - identity.last_inbound_at >= WINDOW  # type: ignore[operator]
            if closed or row["payload"].get("wa_template"):
                return await self._template(contact, address, template, row, len(messages))
        delivered = 0
        for merged, count in merge_turn_counted(messages):
            for body in render(merged):
                result = await self._post(contact, address, body, row)
                if result is not None:
                    if isinstance(result, GraphError) and result.kind is ErrorClass.WINDOW and template:
                        return await self._template(contact, address, template, row, len(messages))  # type: ignore[arg-type]
                    return _result_of(result, delivered, self)
            delivered += count
        return outbox.Sent()

    async def _template(
        self, contact: Contact, address: dict, template: Template, row: dict, total: int
    ) -> SendResult:
        body = template_message(template, contact.language, row["payload"], row.get("id"))
        result = await self._post(contact, address, body, row, is_template=True)
        if result is None:
            return outbox.Sent()
        return _result_of(result, 0, self)

    async def _post(
        self,
        contact: Contact,
        address: dict,
        body: dict[str, Any],
        row: dict | None,
        *,
        is_template: bool = False,
    ) -> GraphError | Exception | None:
        """One message; None when accepted, else the error."""
        person = address.get("to") or address.get("recipient")
        try:
            body = await self._with_media(body)
        except (OSError, ValueError) as error:  # a staff file that is gone
            log.warning("a file could not be sent on WhatsApp (%s)", type(error).__name__)
            return GraphError(None, 400)
        except GraphError as error:
            return error
        except httpx.HTTPError as error:
            return error
        if self.limiter is not None:
            await self.limiter.acquire(person)
        try:
            wamid = await self.client.send({**address, **body})
        except GraphError as error:
            if error.kind is ErrorClass.RATE:
                self.rate_errors += 1
                if self.limiter is not None and error.code == PAIR_RATE:
                    # The pair rate holds this person only; the number's rate (130429) is already paced
                    # by the limiter, and the row comes back after retry_seconds.
                    self.limiter.penalise(person, retry_seconds(error.code))
            return error
        except httpx.HTTPError as error:
            return error
        async with self.db.transaction() as session:
            await wa_repo.record_sent(
                session,
                wamid,
                contact.id,
                row.get("id") if row else None,
                is_template,
                self.clock.now(),  # type: ignore[arg-type]
            )
        return None

    async def _with_media(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("type")
        media = body.get(kind) if isinstance(kind, str) else None
        if not isinstance(media, dict) or UPLOAD not in media:
            return body
        attachment: Attachment = media[UPLOAD]
        path = Path(attachment.ref.removeprefix("file:"))
        if not attachment.ref.startswith("file:"):
            raise ValueError("only stored files can be uploaded")
        data = await asyncio.to_thread(read_stored, path)
        media_id = await self.client.upload(data, attachment.mime, attachment.name or path.name)
        rest = {k: v for k, v in media.items() if k != UPLOAD}
        return {"type": kind, kind: {"id": media_id, **rest}}


def _address(identity: wa_repo.WaIdentity | None, key: str) -> dict[str, str]:
    """``to`` (with + and the country code) while the phone number is known, else the BSUID."""
    if identity is not None and identity.wa_id:
        return {"to": "+" + identity.wa_id.lstrip("+")}
    if identity is not None and identity.user_id:
        return {"recipient": identity.user_id}
    return {"to": "+" + key.lstrip("+")} if key.lstrip("+").isdigit() else {"recipient": key}


def _result_of(error: Exception, delivered: int, sender: WhatsAppSender) -> SendResult:
    if isinstance(error, GraphError):
        kind = error.kind
        code = str(error.code) if error.code is not None else str(error.status)
        if kind is ErrorClass.RATE:
            return outbox.RetryAfter(retry_seconds(error.code), delivered)
        if kind is ErrorClass.UNREACHABLE:
            return outbox.Blocked(delivered)
        if kind is ErrorClass.TRANSIENT:
            return outbox.Transient(code, delivered)
        return outbox.Permanent(code, delivered)
    return outbox.Transient(type(error).__name__, delivered)


def merge_turn_counted(messages: Sequence[Outbound]) -> list[tuple[Outbound, int]]:
    """``merge_turn`` with how many of the given messages each merged message holds."""
    result: list[tuple[Outbound, int]] = []
    for message in messages:
        merged = merge_turn([result[-1][0], message]) if result else [message]
        if result and len(merged) == 1:
            result[-1] = (merged[0], result[-1][1] + 1)
        else:
            result.append((message, 1))
    return result
