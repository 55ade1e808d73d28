"""The outbox's Telegram sender: one attempt per call, the outbox owns retries.

    sender = TelegramSender(outbox_bot(token, api_base), RateLimiter(TELEGRAM_LIMITS))
    worker = OutboxWorker(db, clock, {"telegram": sender}, render, max_attempts)

Inside ``python -m bot run`` the channel's own bot (``channel.bot``) can be given instead, with
``limiter=None``: its FloodLimiter then paces replies and notifications under one 30/s budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from flows.messages import Outbound
from handlers.telegram import DEFAULT_API_BASE, render, retry_after_seconds
from handlers.telegram_limits import sending_as
from storage import outbox
from storage.models import Contact
from storage.outbox import RateLimiter, SendResult


def outbox_bot(token: str, api_base: str | None = None, *, pool_size: int = 16) -> Bot:
    """A plain Bot (no PTB rate limiter: the outbox paces) with a connection pool for concurrent sends."""
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    request = HTTPXRequest(connection_pool_size=pool_size, pool_timeout=10.0)
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", request=request)


# A send that times out is retried, and if Telegram had in fact accepted it the person gets it twice; a read
# (getMe, getFile) that times out costs nothing. So sends wait longer for Telegram's answer than the bot's
# default 5 s: a slow answer is then an answer, not a duplicate. Well under the outbox's lease (120 s).
SEND_TIMEOUT = 30.0


class TelegramSender:
    def __init__(
        self, bot: Bot, limiter: RateLimiter | None = None, *, send_timeout: float = SEND_TIMEOUT
    ) -> None:
        self.bot = bot
        self.limiter = limiter
        self.send_timeout = send_timeout

    async def __call__(self, contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        with sending_as("outbox"):  # a 429 here is the outbox's (FloodLimiter.on_retry_after, bot/metrics.py)
            return await self._send(contact, messages)

    async def _send(self, contact: Contact, messages: Sequence[Outbound]) -> SendResult:
        chat_id = int(contact.channel_user_id)
        ref: str | None = None
        timeouts = {"read_timeout": self.send_timeout, "write_timeout": self.send_timeout}
        for delivered, message in enumerate(messages):
            for kwargs in render(message):
                if self.limiter is not None:
                    await self.limiter.acquire(chat_id)
                try:
                    accepted = await self.bot.send_message(chat_id=chat_id, **kwargs, **timeouts)
                except RetryAfter as error:
                    seconds = retry_after_seconds(error)
                    if self.limiter is not None:
                        self.limiter.penalise(chat_id, seconds)
                    return outbox.RetryAfter(seconds, delivered)
                except Forbidden:  # "bot was blocked by the user", "user is deactivated", never started
                    return outbox.Blocked(delivered)
                except BadRequest as error:  # a subclass of NetworkError: must come first, never retried
                    return outbox.Permanent(type(error).__name__, delivered)
                except NetworkError as error:  # TimedOut, a dropped connection, 5xx
                    return outbox.Transient(type(error).__name__, delivered)
                except TelegramError as error:  # 401/404 (token), 409: a configuration problem, retried
                    return outbox.Transient(type(error).__name__, delivered)
                ref = str(accepted.message_id)
        return outbox.Sent(ref)
