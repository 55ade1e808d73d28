"""Threads and relaying both ways: one thread per beneficiary (a forum topic, or a card staff reply to);
the beneficiary's messages are copied into it, and a staff reply there reaches the beneficiary on their own
channel through the channel-neutral sender port (``senders[contact.channel]``)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    Message,
    ReplyParameters,
)

from flows.messages import Attachment, AttachmentKind, Outbound
from flows.service import EscalationOpened
from flows.survey import LowRating
from handlers.desk.albums import albums, post_album, sendable
from handlers.desk.cards import LTR
from handlers.desk.posting import NotPosted
from handlers.telegram import FILE_REF, TELEGRAM_REF, Delivery, TelegramChannel, split_text
from locales import translator
from storage import desk as desk_repo
from storage import repo
from storage.desk import StaffMessageKind, StaffThread, ThreadStatus
from storage.files import write_once
from storage.models import Contact

log = logging.getLogger(__name__)

Sender = Callable[[Contact, list[Outbound]], Awaitable[bool]]
"""The sender port: delivers messages to a beneficiary on their own channel; True when delivered.
Telegram, the web chat and WhatsApp each register one in ``StaffDesk.senders`` by channel name."""


def telegram_sender(channel: TelegramChannel) -> Sender:
    async def send(contact: Contact, messages: list[Outbound]) -> bool:
        return await channel.send(int(contact.channel_user_id), messages) is Delivery.DELIVERED

    return send


@dataclass
class Target:
    contact_id: int
    thread: StaffThread | None


class RelayMixin:
    """Threads, relaying to staff and back to beneficiaries, /close (a part of StaffDesk)."""

    async def _target_of(self, message: Message) -> Target | None:
        """The beneficiary a staff message is for: its forum topic, or the mapped message it replies to."""
        async with self.service.db.transaction() as session:
            if message.is_topic_message and message.message_thread_id:
                thread = await desk_repo.thread_by_topic(session, self.chat_id, message.message_thread_id)
                if thread is not None:
                    return Target(thread.contact_id, thread)
            replied = message.reply_to_message
            if replied is None:
                return None
            link = await desk_repo.message_link(session, self.chat_id, replied.message_id)
            if link is None:
                return None
            thread = await desk_repo.thread_by_id(session, link.thread_id) if link.thread_id else None
            return Target(link.contact_id, thread)

    async def _relay_to_beneficiary(self, message: Message, target: Target, actor: str) -> None:
        contact = await self.service.contact_by_id(target.contact_id)
        if contact is None:
            return
        send = self.senders.get(contact.channel)
        if send is None:
            await self._reply(message, self.t("desk.reply.unsupported_channel"))
            return
        outbounds = await self._outbounds_of(message, contact)
        if outbounds is None:
            await self._reply(message, self.t("desk.reply.unsupported_content"))
            return
        thread = target.thread
        if thread is None or not thread.held or thread.status != ThreadStatus.OPEN:
            # Before delivering: the bot must not answer the beneficiary in between.
            await self.service.set_held(contact.id, True, actor)  # type: ignore[arg-type]
            if thread is not None:
                if thread.status != ThreadStatus.OPEN and thread.topic_id:
                    await self.channel.call(
                        lambda: self.channel.bot.reopen_forum_topic(self.chat_id, thread.topic_id)  # type: ignore[arg-type]
                    )
                async with self.service.db.transaction() as session:
                    await desk_repo.set_thread_held(session, thread.id, True)  # type: ignore[arg-type]
        try:
            delivered = await send(contact, outbounds)
        except Exception as exc:  # a sender is pluggable; the staff member must hear that it failed
            log.exception("a reply could not be sent (%s, channel=%s)", type(exc).__name__, contact.channel)
            delivered = False
        async with self.service.db.transaction() as session:
            if delivered:
                await desk_repo.remember_message(
                    session,
                    self.chat_id,
                    message.message_id,
                    contact.id,  # type: ignore[arg-type]
                    thread.id if thread is not None else None,
                    StaffMessageKind.OUTBOUND,
                    self._now(),
                )
            await repo.audit(
                session, actor, "desk.replied", f"contact:{contact.id}", self._now(), delivered=delivered
            )
        if not delivered:
            fresh = await self.service.contact_by_id(contact.id)  # type: ignore[arg-type]
            if fresh is not None and fresh.unreachable:
                await self._reply(message, self.t("desk.reply.failed_blocked"))
            else:
                await self._reply(message, self.t("desk.reply.failed"))

    async def _outbounds_of(self, message: Message, contact: Contact) -> list[Outbound] | None:
        lang = contact.language
        attachment = None
        if message.photo:
            largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
            attachment = Attachment(
                kind=AttachmentKind.PHOTO,
                ref=TELEGRAM_REF + largest.file_id,
                mime="image/jpeg",
                size=largest.file_size or 0,
            )
        elif message.document is not None:
            document = message.document
            attachment = Attachment(
                kind=AttachmentKind.DOCUMENT,
                ref=TELEGRAM_REF + document.file_id,
                mime=document.mime_type or "application/octet-stream",
                size=document.file_size or 0,
                name=document.file_name,
            )
        if attachment is not None:
            if contact.channel != "telegram":
                attachment = await self._download(attachment)
                if attachment is None:
                    return None
            if message.caption:
                text = self.service.staff_reply(message.caption, lang)
                return [Outbound(text=text.text, key=text.key, lang=lang, extra={"attachment": attachment})]
            t = translator(lang)
            return [
                Outbound(
                    text=t("handoff.staff_file"),
                    key="handoff.staff_file",
                    lang=lang,
                    extra={"attachment": attachment},
                )
            ]
        if message.text:
            return [self.service.staff_reply(message.text, lang)]
        return None

    async def _download(self, attachment: Attachment) -> Attachment | None:
        """A staff file for a beneficiary on another channel: fetched into files_dir, named by its hash."""
        file_id = attachment.ref.removeprefix(TELEGRAM_REF)
        delivery, telegram_file = await self.channel.call(lambda: self.channel.bot.get_file(file_id))
        if telegram_file is None:
            return None
        data = bytes(await telegram_file.download_as_bytearray())
        digest = hashlib.sha256(data).hexdigest()
        suffix = mimetypes.guess_extension(attachment.mime) or ""
        path = self.channel.files_dir / f"{digest}{suffix}"
        await asyncio.to_thread(write_once, path, data)
        return Attachment(
            kind=attachment.kind,
            ref=FILE_REF + str(path),
            mime=attachment.mime,
            size=len(data),
            name=attachment.name,
            sha256=digest,
        )

    async def _close(self, message: Message, target: Target, actor: str) -> None:
        messages = await self.service.release(target.contact_id, actor)
        contact = await self.service.contact_by_id(target.contact_id)
        send = self.senders.get(contact.channel) if contact is not None else None
        if contact is not None and send is not None and messages:
            try:
                await send(contact, messages)
            except Exception as exc:
                log.exception("the hand-back message could not be sent (%s)", type(exc).__name__)
        thread = target.thread
        if thread is not None:
            async with self.service.db.transaction() as session:
                await desk_repo.close_thread(session, thread.id, self._now())  # type: ignore[arg-type]
        await self._reply(message, self.t("desk.close.done"))
        if thread is not None and thread.topic_id:
            await self.channel.call(lambda: self.channel.bot.close_forum_topic(self.chat_id, thread.topic_id))  # type: ignore[arg-type]

    async def _escalated(self, notice: EscalationOpened) -> None:
        thread, created = await self._thread_for(notice.contact_id, notice.reason)
        if not created:
            note = await self._post(f"🔔 {self._reason_title(notice.reason)}", **self._placement(thread))
            await self._remember(note, thread, StaffMessageKind.NOTE)

    async def _relay_to_staff(
        self, contact_id: int, texts: Sequence[str], attachments: Sequence[Attachment | None]
    ) -> None:
        """A beneficiary's messages (several merged while they waited in the queue) and files, in their
        thread: the texts as one post under one header, the files as albums (handlers/desk/albums.py) with
        the header as their caption."""
        thread, _ = await self._thread_for(contact_id, "message")
        async with self.service.db.transaction() as session:
            who = await self._who(session, contact_id)
        header = self.t("desk.relay.from", who=who)
        placement = self._placement(thread)
        if texts:
            posted = False
            for chunk in split_text(header + "\n" + "\n".join(texts)):
                sent = await self._post(chunk, **placement)
                posted = posted or sent is not None
                await self._remember(sent, thread, StaffMessageKind.INBOUND)
                self._posted_relay(contact_id, thread, sent, chunk)  # an edit may add the next lines
            if not posted:
                raise NotPosted
        files = [a for a in attachments if sendable(a)]
        if attachments:
            self._forget_relay(contact_id)  # the last post is a file now: nothing to add lines to
        for album in albums(files):  # type: ignore[arg-type]
            for sent in await post_album(self.channel, self.chat_id, album, header, placement):
                if sent is None:
                    unavailable = self.t("desk.relay.file_unavailable")
                    sent = await self._post(f"{header}\n{unavailable}", **placement)
                await self._remember(sent, thread, StaffMessageKind.INBOUND)
        for _ in range(len(attachments) - len(files)):  # refs no channel can send (or lost)
            sent = await self._post(f"{header}\n{self.t('desk.relay.file_unavailable')}", **placement)
            await self._remember(sent, thread, StaffMessageKind.INBOUND)

    async def _low_rating(self, notice: LowRating) -> None:
        """A rating of 1 or 2: someone should call back. In the beneficiary's thread when they have one."""
        t = self.t
        async with self.service.db.transaction() as session:
            thread = await desk_repo.latest_thread(session, notice.contact_id, self.chat_id)
            who = await self._who(session, notice.contact_id)
        rating = max(1, min(5, notice.rating))
        lines = [
            t("desk.lowrating.title", stars="⭐" * rating, rating=t.number(rating), best=t.number(5)),
            t("desk.lowrating.who", who=who),
        ]
        if notice.reference:
            lines.append(t("desk.lowrating.reference", reference=LTR.format(notice.reference)))
        if notice.comment:
            lines.append(t("desk.lowrating.comment", comment=notice.comment))
        lines.append(t("desk.lowrating.call_back"))
        if notice.reference:
            lines.append(t("desk.lowrating.find", reference=notice.reference))
        text = "\n".join(lines)
        placement = self._placement(thread) if thread is not None else {}
        sent = await self._post(text, **placement)
        if sent is None and placement:  # the topic was deleted meanwhile: the group itself
            thread, sent = None, await self._post(text)
        await self._remember(sent, thread, StaffMessageKind.NOTE)

    async def _thread_for(self, contact_id: int, reason: str) -> tuple[StaffThread, bool]:
        """The beneficiary's open thread, else a reopened forum topic or a new thread. (thread, new?)"""
        async with self.service.db.transaction() as session:
            latest = await desk_repo.latest_thread(session, contact_id, self.chat_id)
            if latest is not None and latest.status == ThreadStatus.OPEN:
                return latest, False
            card_text, topic_name = await self._thread_card(session, contact_id, reason)
        forum = await self._forum()
        if latest is not None and latest.topic_id and forum:
            topic_id = latest.topic_id
            delivery, _ = await self.channel.call(
                lambda: self.channel.bot.reopen_forum_topic(self.chat_id, topic_id)
            )
            if delivery is Delivery.DELIVERED:
                card = await self._post(card_text, message_thread_id=topic_id)
                async with self.service.db.transaction() as session:
                    await desk_repo.reopen_thread(session, latest.id, reason)  # type: ignore[arg-type]
                    latest = await desk_repo.thread_by_id(session, latest.id)  # type: ignore[arg-type]
                await self._remember(card, latest, StaffMessageKind.THREAD_CARD)
                return latest, True  # type: ignore[return-value]
        topic_id = None
        if forum:
            _, topic = await self.channel.call(
                lambda: self.channel.bot.create_forum_topic(self.chat_id, topic_name[:128])
            )
            topic_id = (
                topic.message_thread_id if topic is not None else None
            )  # no "manage topics" right: a card
        card = await self._post(card_text, **({"message_thread_id": topic_id} if topic_id else {}))
        async with self.service.db.transaction() as session:
            thread = await desk_repo.add_thread(
                session,
                StaffThread(
                    contact_id=contact_id,
                    chat_id=self.chat_id,
                    topic_id=topic_id,
                    card_message_id=card.message_id if card is not None else None,
                    reason=reason,
                    opened_at=self._now(),
                ),
            )
        await self._remember(card, thread, StaffMessageKind.THREAD_CARD)
        return thread, True

    async def _forum(self) -> bool:
        if self._is_forum is None:
            _, chat = await self.channel.call(lambda: self.channel.bot.get_chat(self.chat_id))
            if chat is None:
                return False
            self._is_forum = bool(chat.is_forum)
        return self._is_forum

    def _placement(self, thread: StaffThread) -> dict[str, Any]:
        if thread.topic_id:
            return {"message_thread_id": thread.topic_id}
        if thread.card_message_id:
            return {
                "reply_parameters": ReplyParameters(thread.card_message_id, allow_sending_without_reply=True)
            }
        return {}

    async def _remember(
        self, sent: Message | None, thread: StaffThread | None, kind: StaffMessageKind
    ) -> None:
        if sent is None or thread is None:
            return
        async with self.service.db.transaction() as session:
            await desk_repo.remember_message(
                session, self.chat_id, sent.message_id, thread.contact_id, thread.id, kind, self._now()
            )
