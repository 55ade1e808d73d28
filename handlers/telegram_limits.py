"""Telegram's flood limits and per-chat ordering, shared by every sender on one bot (replies, the outbox,
the staff desk): one limiter, so a 429 holds them all, and one chat's updates in arrival order."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import warnings
from collections.abc import Callable, Coroutine, Iterator
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


# Which part of the bot is sending (for counting 429s by sender, bot/metrics.py): set by the outbox's sender and
# the staff desk for their own sends; anything else is a reply to the person who wrote.
SENDER_KIND: contextvars.ContextVar[str] = contextvars.ContextVar("telegram_sender_kind", default="replies")


@contextlib.contextmanager
def sending_as(kind: str) -> Iterator[None]:
    """Sends made inside this block (and tasks started in it) count as ``kind``'s."""
    token = SENDER_KIND.set(kind)
    try:
        yield
    finally:
        SENDER_KIND.reset(token)


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
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def acquire(self, weight: int = 1) -> None:
        """Take ``weight`` entries (an album of N files is N messages), waiting for them in turn."""
        weight = min(max(1, weight), self.limit)
        async with self._turn:
            loop = asyncio.get_running_loop()
            while (delay := self._wait(loop.time(), weight)) > 0:
                await asyncio.sleep(delay)
            self._sent.extend([loop.time()] * weight)

    def seconds_until_room(self, weight: int = 1) -> float:
        """How long until ``weight`` entries could be taken (0: now, when no one waits before)."""
        weight = min(max(1, weight), self.limit)
        now = asyncio.get_running_loop().time()
        if self._turn.locked():  # someone is already waiting for the next entry: it is theirs
            return max(0.05, self._wait(now, min(weight + 1, self.limit)))
        return max(0.0, self._wait(now, weight))

    def _wait(self, now: float, weight: int) -> float:
        while self._sent and now - self._sent[0] >= self.period:
            self._sent.popleft()
        excess = len(self._sent) + weight - self.limit
        if excess <= 0:
            return 0.0
        return self.period - (now - self._sent[excess - 1])

    def idle(self) -> bool:
        loop = asyncio.get_running_loop()
        return not self._turn.locked() and all(loop.time() - at >= self.period for at in self._sent)


class FloodLimiter(BaseRateLimiter[None]):
    """Telegram's published flood limits for sending: about 1 message/s per private chat (short bursts
    allowed), 30/s overall and 20/min per group. Other calls (getFile, answerCallbackQuery,
    sendChatAction…) are not throttled. A 429 on any send holds every send through this limiter (replies,
    the outbox, the staff desk: one bot, one limiter) for its ``retry_after``; retrying is the sender's
    business. ``group_period`` is 60 s; tests scale it down.

    In a group, an album (sendMediaGroup) takes one entry of the window per file: Telegram counts the
    messages, not the requests (conservative: an album that counted once would only leave room unused).
    Edits in a group (a card showing a decision, a relayed message with more lines) have a window of their
    own, as large as the posts' one: the 20 a minute are messages posted. Should Telegram count edits
    with posts, the first 429 holds everything for its retry_after and nothing is lost.
    ``on_retry_after`` is told the sender's kind (``SENDER_KIND``) of every 429 (bot/metrics.py)."""

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
        self._limiters: dict[int | str | tuple[int | str, str], AsyncLimiter | WindowLimiter] = {}
        self._hold_until = 0.0  # event-loop time before which nothing is sent (a 429's retry_after)
        self.holds = 0  # 429s seen, for tests and benchmarks
        self.on_retry_after: Callable[[str], None] | None = None

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (Telegram answered 429 with this retry_after)."""
        self.holds += 1
        until = asyncio.get_running_loop().time() + seconds
        self._hold_until = max(self._hold_until, until)

    async def _held(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._hold_until - loop.time()) > 0:
            await asyncio.sleep(delay)

    def seconds_until_room(self, chat_id: int | str, *, edit: bool = False, weight: int = 1) -> float:
        """How long until a post (or with ``edit``, an edit) to ``chat_id`` could go out: 0 when it could
        go now. The staff desk asks before it takes a post from its queue, so that what it sends is the
        most urgent post at the moment there is room, not the one that came first."""
        held = max(0.0, self._hold_until - asyncio.get_running_loop().time())
        limiter = self._chat_limiter(_chat_key(chat_id), edit=edit)
        if isinstance(limiter, WindowLimiter):
            waiting = limiter.seconds_until_room(weight)
        else:
            waiting = (
                0.0
                if limiter.has_capacity(min(weight, limiter.max_rate))
                else limiter.time_period / limiter.max_rate
            )
        return max(held, waiting)

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
        weight = len(data.get("media") or ()) if endpoint == "sendMediaGroup" else 1
        limiter = self._chat_limiter(_chat_key(chat_id), edit=endpoint.startswith("edit"))
        await self._held()
        await _take(limiter, max(1, weight))
        async with self._overall:
            await self._held()  # a 429 may have come while this send waited for its turn
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.hold(retry_after_seconds(error))
                if self.on_retry_after is not None:
                    self.on_retry_after(SENDER_KIND.get())
                raise

    def _chat_limiter(self, chat_id: int | str, *, edit: bool = False) -> AsyncLimiter | WindowLimiter:
        is_group = not isinstance(chat_id, int) or chat_id < 0
        key: int | str | tuple[int | str, str] = (chat_id, "edit") if edit and is_group else chat_id
        limiter = self._limiters.get(key)
        if limiter is None:
            if len(self._limiters) > 4096:
                self._limiters = {k: v for k, v in self._limiters.items() if not _idle(v)}
            if is_group:
                limiter = WindowLimiter(int(self._per_group[0]), self._per_group[1])
            else:
                limiter = AsyncLimiter(*self._per_chat)
            self._limiters[key] = limiter
        return limiter


def _chat_key(chat_id: int | str) -> int | str:
    with contextlib.suppress(TypeError, ValueError):
        return int(chat_id)
    return chat_id


async def _take(limiter: AsyncLimiter | WindowLimiter, weight: int) -> None:
    if isinstance(limiter, WindowLimiter):
        await limiter.acquire(weight)
    else:
        await limiter.acquire(min(weight, limiter.max_rate))


def _idle(limiter: AsyncLimiter | WindowLimiter) -> bool:
    if isinstance(limiter, WindowLimiter):
        return limiter.idle()
    return limiter.has_capacity(limiter.max_rate)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates from different chats run concurrently (one user's 429 wait does not hold up others);
    updates from one chat run one at a time, in arrival order. Button presses never wait behind their
    chat's earlier updates and the paced sends those make:
    - in a private chat the press is answered (answerCallbackQuery) as it arrives, then its work keeps its
      place in the chat's order, so the button stops spinning at once and the query never expires (15 s);
    - in a group (the staff desk) the press runs beside the chat's queue, not in it: the desk answers it
      (with its own text: "claimed", "not allowed"…) after a few database reads, before any slow work,
      while the group's earlier updates may be waiting minutes for the group's 20 posts a minute. Its work
      is safe beside them: decisions are serialised by the database (the request's row is locked) and
      what it posts goes through the staff queue, in order of urgency."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        press = update.callback_query if isinstance(update, Update) else None
        if press is not None and chat.type != ChatType.PRIVATE:
            await coroutine  # beside the group's queue (see above)
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        answering: asyncio.Task[None] | None = None
        if press is not None and lock.locked():
            # Beside the chat's queue, not in it: the update keeps its place in the chat's order. (When nothing
            # of the chat is running, it is answered in line below, at the same moment, without a task and the
            # turns of the event loop a task waits for.)
            answering = asyncio.create_task(_answer_quietly(press))
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                if answering is not None:
                    await answering  # answered before the press's work, whatever came before it
                elif press is not None:
                    await _answer_quietly(press)
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if self._users[chat.id] == 0:
                del self._locks[chat.id]
                del self._users[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


async def _answer_quietly(query: Any) -> None:
    with contextlib.suppress(TelegramError):
        await query.answer()
