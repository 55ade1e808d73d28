"""A beneficiary's new messages added to their last relayed post by editing it, while the group's posting
window is full (a part of StaffDesk).

Telegram lets a bot post about 20 messages a minute in a group. When that window is full and a person who
was relayed a moment ago writes again, waiting for the window could take minutes; instead the desk edits
its last post in their thread (editMessageText), adding the new lines under a "added at HH:MM" mark, when:
- that post is the thread's last message (no staff reply or other post after it, so the order stays
  true), it was posted less than ``append_window`` ago (5 minutes), by this process (the text shown is
  known only to the process that posted it: after a restart the next message is a new post);
- the waiting row is the person's oldest and holds only texts (files cannot be added by an edit);
- the result stays one message (Telegram's 4,096 characters).
An edit Telegram refuses (or that cannot be made) gives the row back to the queue untouched: it is posted
as a new post when the window opens. Nothing is lost; an edit does not notify, hence the time mark.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from telegram import Message

from handlers.desk.cards import LTR
from handlers.telegram import Delivery, split_text
from storage import staff_queue
from storage.desk import StaffMessage, StaffThread
from storage.staff_queue import StaffPost

log = logging.getLogger(__name__)

_REMEMBERED = 512  # contacts whose last post is kept (texts of relayed messages: memory only, never logged)


@dataclass(frozen=True)
class LastPost:
    message_id: int
    thread_id: int
    text: str
    posted_at: datetime


class AppendingMixin:
    """Adds waiting relays to the thread's last post by editing it when the group's window is full."""

    append_window = timedelta(minutes=5)

    def _last_posts(self) -> OrderedDict[int, LastPost]:
        posts = getattr(self, "_last_post_of", None)
        if posts is None:
            posts = self._last_post_of = OrderedDict()
        return posts

    def _posted_relay(self, contact_id: int, thread: StaffThread, sent: Message | None, text: str) -> None:
        """Remember the text post just made in a person's thread (what an edit would have to show)."""
        posts = self._last_posts()
        posts.pop(contact_id, None)
        if sent is None or thread.id is None:
            return
        posts[contact_id] = LastPost(sent.message_id, thread.id, text, self._now())
        while len(posts) > _REMEMBERED:
            posts.popitem(last=False)

    def _forget_relay(self, contact_id: int) -> None:
        self._last_posts().pop(contact_id, None)

    async def _append_waiting(self) -> bool:
        """Add one waiting relay to its thread's last post. True when a row was handled (appended, or
        given back for a normal post), False when there was nothing to add."""
        posts = self._last_posts()
        now = self._now()
        for contact_id in [c for c, last in posts.items() if now - last.posted_at >= self.append_window]:
            del posts[contact_id]
        if not posts:
            return False
        db = self.service.db
        for row in await staff_queue.appendable(db, self.chat_id, list(posts), now):
            last = posts.get(row.contact_id)  # type: ignore[arg-type]
            if last is None or row.payload.get("attachments") or not row.payload.get("texts"):
                continue
            text = self._appended_text(last.text, row.payload["texts"])
            if text is None or not await self._is_last_message(last):
                self._forget_relay(row.contact_id)  # type: ignore[arg-type]
                continue
            post = await staff_queue.claim_post(db, row.id, now, self.lease)  # type: ignore[arg-type]
            if post is None:
                continue  # another worker has it
            await self._append(post, last, text)
            return True
        return False

    def _appended_text(self, shown: str, texts: list[str]) -> str | None:
        mark = self.t(
            "desk.relay.added", time=LTR.format(self._now().astimezone(self.zone).strftime("%H:%M"))
        )
        text = shown + "\n\n" + mark + "\n" + "\n".join(texts)
        chunks = split_text(text)
        return text if len(chunks) == 1 and chunks[0] == text else None

    async def _is_last_message(self, last: LastPost) -> bool:
        statement = select(func.max(StaffMessage.message_id)).where(
            StaffMessage.chat_id == self.chat_id, StaffMessage.thread_id == last.thread_id
        )
        async with self.service.db.transaction() as session:
            return (await session.execute(statement)).scalar_one_or_none() == last.message_id

    async def _append(self, post: StaffPost, last: LastPost, text: str) -> None:
        db = self.service.db
        try:
            delivery, _ = await self.channel.call(
                lambda: self.channel.bot.edit_message_text(
                    text, chat_id=self.chat_id, message_id=last.message_id
                )
            )
        except Exception as exc:  # the row must not be lost: it goes back and is posted as a new post
            log.warning("adding to a staff post failed (%s)", type(exc).__name__)
            delivery = Delivery.FAILED
        if delivery is not Delivery.DELIVERED:
            self._forget_relay(post.contact_id)  # type: ignore[arg-type]
            await staff_queue.release(db, post, self._now(), post.last_error, post.attempts)
            return
        await staff_queue.mark_sent(db, post, self._now())
        self._last_posts()[post.contact_id] = replace(last, text=text)  # type: ignore[index]
        self.appended += post.merged
        self.merged += post.merged
