"""Posting to the staff group: one queue and one worker, so a burst waits for the group's flood limit
instead of being dropped, and keeps its order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import (
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from flows.service import EscalationOpened, RelayedMessage, RequestCreated, StaffNotice
from flows.survey import LowRating
from handlers.telegram import split_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffAlert:
    """A text for the staff group from elsewhere (the outbox's alerts, the daily digest)."""

    text: str


class PostingMixin:
    """The queue of posts to the staff group and the one worker that posts them (a part of StaffDesk)."""

    async def stop(self, timeout: float = 60.0) -> None:
        """Post what is queued (waiting at most ``timeout`` seconds: 20 posts a minute), then stop the worker.
        The queue lives in memory: what a crash leaves in it is not posted."""
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        if self._queue.qsize():
            log.warning("%d staff notices were not posted before shutdown", self._queue.qsize())
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None

    async def idle(self) -> None:
        """Wait until every queued notice has been posted."""
        await self._queue.join()

    async def notify(self, notice: StaffNotice) -> None:
        """The service's listener: queue the notice and return at once, so the beneficiary's reply
        never waits for the staff group's flood limit."""
        self._queue.put_nowait(notice)
        self._ensure_worker()

    async def post_alert(self, text: str) -> None:
        """Post a text in the staff group (the outbox's alerts, the daily digest): queued with the notices,
        so it waits for the group's flood limit instead of being dropped. Returns at once."""
        self._queue.put_nowait(StaffAlert(text))
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="staff-desk")

    async def _work(self) -> None:
        while True:
            notice = await self._queue.get()
            try:
                if isinstance(notice, RequestCreated):
                    await self._post_request(notice)
                elif isinstance(notice, EscalationOpened):
                    await self._escalated(notice)
                elif isinstance(notice, RelayedMessage):
                    await self._relay_to_staff(notice)
                elif isinstance(notice, LowRating):
                    await self._low_rating(notice)
                elif isinstance(notice, StaffAlert):
                    if await self._post(notice.text) is None:
                        log.warning("a staff alert could not be posted")
            except Exception as exc:  # one bad notice must not stop the desk
                log.exception("posting a staff notice failed (%s)", type(exc).__name__)
            finally:
                self._queue.task_done()

    async def _post(self, text: str, **kwargs: Any) -> Message | None:
        """One message to the staff chat, through the flood limiter and the retry policy."""
        sent: Message | None = None
        for chunk in split_text(text):
            delivery, message = await self.channel.call(
                lambda chunk=chunk: self.channel.bot.send_message(self.chat_id, chunk, **kwargs)
            )
            if message is None:
                log.warning("a message to the staff chat was not delivered (%s)", delivery.value)
            sent = sent or message
            kwargs.pop("reply_markup", None)
        return sent

    async def _reply(self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        placement = self._reply_placement(message)
        if markup is not None:
            placement["reply_markup"] = markup
        await self._post(text, **placement)

    def _reply_placement(self, message: Message) -> dict[str, Any]:
        placement: dict[str, Any] = {
            "reply_parameters": ReplyParameters(message.message_id, allow_sending_without_reply=True)
        }
        if message.is_topic_message and message.message_thread_id:
            placement["message_thread_id"] = message.message_thread_id
        return placement

    def _now(self) -> datetime:
        return self.service.clock.now()
