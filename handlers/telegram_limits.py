"""Telegram's flood limits and per-chat ordering, shared by every sender on one bot (replies, the outbox,
the staff desk): one limiter, so a 429 holds them all, and one chat's updates in arrival order."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor

try:
    from aiolimiter import AsyncLimiter
except ImportError:  # pragma: no cover - installed with python-telegram-bot[rate-limiter]
    AsyncLimiter = None  # type: ignore[assignment,misc]

_SEND_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
    }
)


def retry_after_seconds(error: RetryAfter) -> float:
    # PTB 22 warns on RetryAfter.retry_after (it will become a timedelta); accept both forms.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


# ---- rate limits and concurrency ------------------------------------------------------------------


class WindowLimiter:
    """At most ``limit`` entries in any ``period`` seconds, first come first served. Stricter than a
    leaky bucket, which lets a full burst through and then refills: that would post up to twice the
    limit in the first period, and Telegram counts 20 messages per minute per group."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = max(1, int(limit))
        self.period = period
        self._sent: collections.deque[float] = collections.deque()
        self._turn = asyncio.Lock()  # FIFO: waiters go out in the order they came

    async def __aenter__(self) -> None:
        async with self._turn:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self.period - (now - self._sent[0]))

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def idle(self) -> bool:
        loop = asyncio.get_running_loop()
        return not self._turn.locked() and all(loop.time() - at >= self.period for at in self._sent)


class FloodLimiter(BaseRateLimiter[None]):
    """Telegram's published flood limits for sending: about 1 message/s per private chat (short bursts
    allowed), 30/s overall and 20/min per group. Other calls (getFile, answerCallbackQuery,
    sendChatAction…) are not throttled. A 429 on any send holds every send through this limiter (replies,
    the outbox, the staff desk: one bot, one limiter) for its ``retry_after``; retrying is the sender's
    business. ``group_period`` is 60 s; tests scale it down."""

    def __init__(
        self,
        overall_per_second: float = 30,
        per_chat_per_second: float = 1,
        per_chat_burst: int = 3,
        group_per_minute: float = 20,
        group_period: float = 60.0,
    ) -> None:
        if AsyncLimiter is None:  # pragma: no cover
            raise RuntimeError("install python-telegram-bot[rate-limiter]")
        self._overall = AsyncLimiter(overall_per_second, 1)
        self._per_chat = (per_chat_burst, per_chat_burst / per_chat_per_second)
        self._per_group = (group_per_minute, group_period)
        self._limiters: dict[int | str, AsyncLimiter | WindowLimiter] = {}
        self._hold_until = 0.0  # event-loop time before which nothing is sent (a 429's retry_after)
        self.holds = 0  # 429s seen, for tests and benchmarks

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (Telegram answered 429 with this retry_after)."""
        self.holds += 1
        until = asyncio.get_running_loop().time() + seconds
        self._hold_until = max(self._hold_until, until)

    async def _held(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._hold_until - loop.time()) > 0:
            await asyncio.sleep(delay)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if endpoint not in _SEND_ENDPOINTS or chat_id is None:
            return await callback(*args, **kwargs)
        await self._held()
        async with self._chat_limiter(chat_id), self._overall:
            await self._held()  # a 429 may have come while this send waited for its turn
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.hold(retry_after_seconds(error))
                raise

    def _chat_limiter(self, chat_id: int | str) -> AsyncLimiter | WindowLimiter:
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)
        limiter = self._limiters.get(chat_id)
        if limiter is None:
            if len(self._limiters) > 4096:
                self._limiters = {k: v for k, v in self._limiters.items() if not _idle(v)}
            is_group = not isinstance(chat_id, int) or chat_id < 0
            if is_group:
                limiter = WindowLimiter(int(self._per_group[0]), self._per_group[1])
            else:
                limiter = AsyncLimiter(*self._per_chat)
            self._limiters[chat_id] = limiter
        return limiter


def _idle(limiter: AsyncLimiter | WindowLimiter) -> bool:
    if isinstance(limiter, WindowLimiter):
        return limiter.idle()
    return limiter.has_capacity(limiter.max_rate)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates from different chats run concurrently (one user's 429 wait does not hold up others);
    updates from one chat run one at a time, in arrival order. A button press in a private chat is
    answered (answerCallbackQuery) as it arrives, before waiting for that chat's earlier updates and their
    paced sends, so the button stops spinning at once and the query never expires (15 s)."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        if chat.type == ChatType.PRIVATE and update.callback_query is not None:  # type: ignore[union-attr]
            # Beside the chat's queue, not in it: the update keeps its place in the chat's order.
            answering: asyncio.Task[None] | None = asyncio.create_task(_answer_quietly(update.callback_query))  # type: ignore[union-attr]
        else:
            answering = None
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                if answering is not None:
                    await answering  # answered before the press's work, whatever came before it
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if self._users[chat.id] == 0:
                del self._users[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


async def _answer_quietly(query: Any) -> None:
    with contextlib.suppress(TelegramError):
        await query.answer()
