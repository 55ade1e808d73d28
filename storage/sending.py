"""What one send attempt reports back to the outbox, and the channels' rate limits. The outbox's worker, the
channels' senders and the staff queue share these; they hold no database logic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from storage.models import Contact

Outbound = Any  # flows.messages.Outbound: storage does not import flows


# ---- results of one send ---------------------------------------------------------------------------
# ``delivered`` counts the messages of the notification the platform accepted before the failure: a
# retry starts after them instead of sending them again.


@dataclass(frozen=True)
class Sent:
    ref: str | None = None  # the platform's id of the last message it accepted, when it gives one


@dataclass(frozen=True)
class RetryAfter:
    seconds: float
    delivered: int = 0


@dataclass(frozen=True)
class Transient:
    code: str  # an error class or status code, e.g. "NetworkError", "TimedOut", "500"
    delivered: int = 0


@dataclass(frozen=True)
class Blocked:
    delivered: int = 0


@dataclass(frozen=True)
class Permanent:
    code: str
    delivered: int = 0


SendResult = Sent | RetryAfter | Transient | Blocked | Permanent


class Sender(Protocol):
    """One attempt to send the rendered messages to the contact; never retries by itself."""

    async def __call__(self, contact: Contact, messages: Sequence[Outbound]) -> SendResult: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


# ---- rate limits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelLimits:
    overall_per_second: float
    per_chat_per_second: float
    per_chat_burst: int = 1
    overall_burst: int | None = None  # default: a tenth of a second's worth


# Telegram's Bot FAQ: about 30 messages/s to different users, about 1/s in one chat (short bursts pass).
TELEGRAM_LIMITS = ChannelLimits(overall_per_second=30, per_chat_per_second=1, per_chat_burst=3)
# WhatsApp Cloud API: 80 messages/s per business number (inbound counts too), 1 every 6 s to one user
# (bursts borrow from future quota, so none are planned).
WHATSAPP_LIMITS = ChannelLimits(overall_per_second=80, per_chat_per_second=1 / 6, per_chat_burst=1)


class _Bucket:
    """GCRA: reserves a send time at once, so waiters go out in order and nobody polls."""

    __slots__ = ("interval", "tolerance", "tat")

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (max(1, burst) - 1) * self.interval
        self.tat = float("-inf")  # theoretical arrival time of the next request

    def earliest(self, at: float) -> float:
        return max(at, self.tat - self.tolerance)

    def commit(self, at: float) -> None:
        self.tat = max(self.tat, at) + self.interval

    def hold(self, until: float) -> None:
        self.tat = max(self.tat, until + self.tolerance)


class RateLimiter:
    """Paces sends to one channel: an overall rate and a rate per chat. ``await limiter.acquire(chat)``
    before each platform request. After a 429, ``penalise(chat, seconds)`` holds that chat; 429s from
    several chats within a second hold every chat (the overall limit was hit, perhaps by another
    process on the same token)."""

    def __init__(self, limits: ChannelLimits, *, timer: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        burst = limits.overall_burst or max(1, round(limits.overall_per_second / 10))
        self._overall = _Bucket(limits.overall_per_second, burst)
        self._chats: dict[object, _Bucket] = {}
        self._timer = timer
        self._recent_429: list[tuple[float, object]] = []

    def reserve(self, chat: object) -> float:
        """Reserve a send time for ``chat``; returns how long to wait for it."""
        now = self._timer()
        bucket = self._chats.get(chat)
        if bucket is None:
            if len(self._chats) > 4096:
                self._chats = {key: b for key, b in self._chats.items() if b.tat > now}
            bucket = self._chats[chat] = _Bucket(self.limits.per_chat_per_second, self.limits.per_chat_burst)
        at = self._overall.earliest(bucket.earliest(now))
        self._overall.commit(at)
        bucket.commit(at)
        return at - now

    async def acquire(self, chat: object) -> None:
        delay = self.reserve(chat)
        if delay > 0:
            await asyncio.sleep(delay)

    def penalise(self, chat: object, seconds: float) -> None:
        now = self._timer()
        until = now + seconds
        bucket = self._chats.setdefault(
            chat, _Bucket(self.limits.per_chat_per_second, self.limits.per_chat_burst)
        )
        bucket.hold(until)
        self._recent_429 = [(at, c) for at, c in self._recent_429 if now - at < 1.0] + [(now, chat)]
        if len({c for _, c in self._recent_429}) >= 3:
            self._overall.hold(until)
