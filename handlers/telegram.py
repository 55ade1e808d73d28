"""The Telegram channel: python-telegram-bot updates <-> neutral messages (flows.messages).

Only private chats with beneficiaries are handled here; group chats (the staff desk) are left to other
handlers added to the same ``Application``.

    channel = TelegramChannel(token, port, files_dir=Path("data/files"))
    await run_polling(channel, stop=stop_event)                    # long polling
    app = webhook_app(channel, secret, public_url="https://…/telegram/webhook")   # or a webhook
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from flows.messages import Attachment, AttachmentKind, ContactKey, Inbound, Outbound
from flows.validators import DOCUMENT_TYPES
from handlers.telegram_limits import (  # noqa: F401  (where importers found them before)
    FloodLimiter,
    PerChatUpdateProcessor,
    WindowLimiter,
    retry_after_seconds,
)
from handlers.telegram_render import (  # noqa: F401  (where importers found them before)
    CALLBACK_PREFIX,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_UTF16,
    MAX_TEXT_UTF16,
    merge_turn,
    render,
    split_text,
)
from handlers.telegram_render import utf16_len as _utf16_len
from storage.files import UNREADABLE, read_stored, store_received
from storage.files import sniff as sniff_mime  # noqa: F401  (the old name, for importers)

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "telegram"
DEFAULT_API_BASE = "https://api.telegram.org"
# Given to the core for callback data we did not produce: it is never a real option id, so the core
# answers "please choose one of the buttons" instead of acting on it.
UNKNOWN_OPTION = "?"
TELEGRAM_REF = "telegram:"
FILE_REF = "file:"
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_ALLOWED_MIMES = DOCUMENT_TYPES
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
MAX_WEBHOOK_BYTES = 1024 * 1024  # an update is a few kB; larger bodies get 413 unread

DEFAULT_COMMANDS: Mapping[str, Sequence[tuple[str, str]]] = {
    "ar": (
        ("start", "القائمة الرئيسية"),
        ("help", "المساعدة"),
        ("cancel", "إلغاء الخطوة الحالية"),
        ("language", "تغيير اللغة"),
        ("mydata", "بياناتي: الاطلاع والنسخة والتصحيح والحذف"),
    ),
    "en": (
        ("start", "Main menu"),
        ("help", "Help"),
        ("cancel", "Cancel the current step"),
        ("language", "Change language"),
        ("mydata", "My data: see, copy, correct, delete"),
    ),
}
# "" is the default list, shown to users whose app language has no list of its own.
COMMAND_LANGUAGES: Mapping[str, str] = {"": "ar", "ar": "ar", "en": "en"}

_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]+)?(?=\s|$)(.*)$", re.DOTALL)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConversationPort(Protocol):
    async def handle(self, inbound: Inbound) -> list[Outbound]: ...


class Delivery(StrEnum):
    DELIVERED = "delivered"
    UNREACHABLE = "unreachable"  # the user blocked the bot (403)
    FAILED = "failed"  # gave up after retries, or Telegram refused the message (400)


# ---- inbound -------------------------------------------------------------------------------------


def update_to_inbound(update: Update) -> Inbound | None:
    """A private-chat message or button press as a neutral Inbound; None for anything else.

    Attachments carry ``ref="telegram:<file_id>"`` here; the channel downloads accepted files and
    replaces the ref with ``file:<path>``."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE or user.is_bot:
        return None
    contact = ContactKey(CHANNEL, str(user.id))
    message_id = f"tg:{update.update_id}"
    language = user.language_code
    if update.callback_query is not None:
        option = option_from_callback_data(update.callback_query.data)
        return Inbound(contact=contact, message_id=message_id, option=option, language_hint=language)
    message = update.message
    if message is None:
        return None  # edits, reactions and the like are not conversation turns
    attachments: list[Attachment] = []
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        attachments.append(
            Attachment(
                kind=AttachmentKind.PHOTO,
                ref=TELEGRAM_REF + largest.file_id,
                mime="image/jpeg",  # Telegram re-encodes every photo as JPEG
                size=largest.file_size or 0,
            )
        )
    if message.document is not None:
        document = message.document
        attachments.append(
            Attachment(
                kind=AttachmentKind.DOCUMENT,
                ref=TELEGRAM_REF + document.file_id,
                mime=document.mime_type or _guess_mime(document.file_name),
                size=document.file_size or 0,
                name=document.file_name,
            )
        )
    return Inbound(
        contact=contact,
        message_id=message_id,
        text=_normalise_command(message.text or message.caption),
        attachments=tuple(attachments),
        language_hint=language,
        at=message.date,
    )


def option_from_callback_data(data: object) -> str:
    """The option id inside callback data we produced, else UNKNOWN_OPTION (forged or stale data)."""
    if not isinstance(data, str) or not data.startswith(CALLBACK_PREFIX):
        return UNKNOWN_OPTION
    option = data[len(CALLBACK_PREFIX) :]
    if not option or not option.isascii() or not option.isprintable():
        return UNKNOWN_OPTION
    if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
        return UNKNOWN_OPTION
    return option


def _normalise_command(text: str | None) -> str | None:
    """ "/Start@MustafidBot" -> "/start". The deep-link payload of /start is dropped: the core knows
    the bare command only."""
    if text is None:
        return None
    match = _COMMAND_RE.match(text)
    if match is None:
        return text
    command, rest = match.group(1).lower(), match.group(2)
    if command == "start":
        return "/start"
    return f"/{command}{rest}"


def _guess_mime(name: str | None) -> str:
    guessed = mimetypes.guess_type(name or "")[0]
    return guessed or "application/octet-stream"


def _in_private_chat(update: object) -> bool:
    return (
        isinstance(update, Update)
        and update.effective_chat is not None
        and update.effective_chat.type == ChatType.PRIVATE
    )


class _PrivateCallbackQueryHandler(CallbackQueryHandler):
    """CallbackQueryHandler has no chat filter; presses in the staff group are the desk's, and a handler
    that matched would stop other handlers of its group from seeing them."""

    def check_update(self, update: object) -> bool | object | None:
        return super().check_update(update) if _in_private_chat(update) else None


class _PrivateChatMemberHandler(ChatMemberHandler):
    """As above: the bot being added to or removed from the staff group is not ours."""

    def check_update(self, update: object) -> bool:
        return _in_private_chat(update) and super().check_update(update)


# ---- the channel ---------------------------------------------------------------------------------


class TelegramChannel:
    def __init__(
        self,
        token: str,
        port: ConversationPort,
        api_base: str | None = None,
        *,
        files_dir: Path,
        max_file_bytes: int = MAX_DOWNLOAD_BYTES,
        allowed_mimes: Collection[str] = DEFAULT_ALLOWED_MIMES,
        commands: Mapping[str, Sequence[tuple[str, str]]] = DEFAULT_COMMANDS,
        allowed_updates: Sequence[str] = ALLOWED_UPDATES,
        retry_delays: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
        max_retry_after: float = 300.0,
        rate_limiter: BaseRateLimiter[Any] | None = None,
        max_concurrent_updates: int = 64,
        request: BaseRequest | None = None,
        handler_group: int = 0,
        typing_after: float = 0.5,
    ) -> None:
        self.port = port
        self.typing_after = typing_after
        self.files_dir = Path(files_dir)
        self.max_file_bytes = min(max_file_bytes, MAX_DOWNLOAD_BYTES)
        self.allowed_mimes = frozenset(allowed_mimes)
        self.commands = commands
        self.allowed_updates = list(allowed_updates)
        self.retry_delays = tuple(retry_delays)
        self.max_retry_after = max_retry_after
        base = (api_base or DEFAULT_API_BASE).rstrip("/")
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .rate_limiter(rate_limiter or FloodLimiter())
            .concurrent_updates(PerChatUpdateProcessor(max_concurrent_updates))
            .job_queue(None)  # scheduling is bot/'s job, not PTB's
        )
        if request is not None:  # PTB's own extension point: bench/channel_load.py answers in-process
            builder = builder.request(request)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        private = filters.ChatType.PRIVATE & ~filters.UpdateType.EDITED
        self.application.add_handlers(
            [
                _PrivateCallbackQueryHandler(self._on_update),
                MessageHandler(private, self._on_update),
                _PrivateChatMemberHandler(self._on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
            ],
            group=handler_group,
        )
        self.application.add_error_handler(self._on_error)

    @property
    def bot(self) -> Bot:
        return self.application.bot

    @property
    def running(self) -> bool:
        return self.application.running

    # -- lifecycle

    async def start(self) -> None:
        """Initialise the bot (getMe), register the commands and start processing updates."""
        await self.application.initialize()
        await self.register_commands()
        await self.application.start()

    async def stop(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def start_polling(self, *, poll_timeout: float = 10, drop_pending_updates: bool = False) -> None:
        """start() and long-poll getUpdates in the background (PTB deletes any webhook first)."""
        await self.start()
        updater = self.application.updater
        if updater is None:
            raise RuntimeError("the Application was built without an Updater")
        await updater.start_polling(
            timeout=timedelta(seconds=poll_timeout),
            allowed_updates=self.allowed_updates,
            drop_pending_updates=drop_pending_updates,
        )

    async def set_webhook(self, url: str, secret: str, *, drop_pending_updates: bool = False) -> None:
        await self.bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=self.allowed_updates,
            drop_pending_updates=drop_pending_updates,
        )

    async def register_commands(self) -> None:
        for language_code, texts_of in COMMAND_LANGUAGES.items():
            texts = self.commands.get(texts_of)
            if not texts:
                continue
            try:
                await self.bot.set_my_commands(
                    [BotCommand(name, description) for name, description in texts],
                    scope=BotCommandScopeAllPrivateChats(),
                    language_code=language_code or None,
                )
            except TelegramError as error:
                log.warning("setMyCommands failed (%s)", type(error).__name__)

    async def feed_update(self, data: dict[str, Any]) -> None:
        """Queue one update as received from a webhook; processed by the running Application."""
        await self.application.update_queue.put(Update.de_json(data, self.bot))

    # -- handlers

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (
            update.callback_query is not None
            and not isinstance(context.application.update_processor, PerChatUpdateProcessor)
        ):  # PerChatUpdateProcessor answers it as it arrives: the button stops spinning, the query cannot expire
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        inbound = update_to_inbound(update)
        if inbound is None or update.effective_chat is None:
            return
        chat_id = update.effective_chat.id
        # "typing…" only where the person would wait: when a file's download or the reply is slow (a large
        # file, a search of the guides); most take milliseconds and the indicator would cost a request each.
        loop = asyncio.get_running_loop()
        typing = loop.call_later(self.typing_after, lambda: loop.create_task(self._typing(chat_id)))
        try:
            if inbound.attachments:
                fetched = tuple([await self._fetch(a) for a in inbound.attachments])
                inbound = replace(inbound, attachments=fetched)
            outbounds = await self.port.handle(inbound)
        finally:
            typing.cancel()
        await self.send(chat_id, merge_turn(outbounds))

    async def _typing(self, chat_id: int) -> None:
        with contextlib.suppress(TelegramError):
            await self.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)

    async def _on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        member = update.my_chat_member
        if member is None:
            return
        contact = ContactKey(CHANNEL, str(member.chat.id))
        status = member.new_chat_member.status
        if status == ChatMemberStatus.BANNED:  # "kicked": the user blocked the bot
            await _call_if_present(self.port, "mark_unreachable", contact)
        elif status == ChatMemberStatus.MEMBER:
            await _call_if_present(self.port, "mark_reachable", contact)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        log.error(
            "handling a Telegram update failed (%s, update_id=%s)",
            type(error).__name__,
            update_id,
            exc_info=(type(error), error, error.__traceback__) if error is not None else None,
        )

    # -- sending

    async def send(self, chat_id: int | str, outbounds: Sequence[Outbound]) -> Delivery:
        """Send the messages in order. 429: wait retry_after and resend; network errors and 5xx: retry
        with backoff; 403: mark the contact unreachable and stop. An Outbound whose ``extra`` holds an
        ``"attachment"`` (a flows Attachment with a ``telegram:`` or ``file:`` ref) is sent as a photo
        or document, its text as the caption."""
        for outbound in outbounds:
            attachment = outbound.extra.get("attachment")
            steps = [partial(self._send_text, chat_id, kwargs) for kwargs in render(outbound)]
            if isinstance(attachment, Attachment):
                if _utf16_len(outbound.text) <= MAX_CAPTION_UTF16:
                    steps = [partial(self.send_file, chat_id, attachment, caption=outbound.text)]
                else:  # too long for a caption: the file, then the text
                    steps.insert(0, partial(self.send_file, chat_id, attachment))
            for step in steps:
                try:
                    result, _ = await self.call(step)
                except (OSError, ValueError) as error:  # a file that is gone, or a ref of another channel
                    log.warning("a file could not be sent (%s)", type(error).__name__)
                    return Delivery.FAILED
                if result is not Delivery.DELIVERED:
                    if result is Delivery.UNREACHABLE:
                        await _call_if_present(
                            self.port, "mark_unreachable", ContactKey(CHANNEL, str(chat_id))
                        )
                    return result
        return Delivery.DELIVERED

    async def _send_text(self, chat_id: int | str, kwargs: dict[str, Any]) -> None:
        """sendMessage, without turning Telegram's answer into a ``Message``: a reply is never read back, and
        PTB's parsing of the answer cost as much as the rest of the request (bench/channel_load.py). ``_post``
        is the step of ``Bot.send_message`` that makes the request (PTB documents it as the one ``ExtBot``
        overrides): the same rate limiter, errors and retries. (``do_api_request`` would do the same, but warns
        on every call that sendMessage has a method of its own.)"""
        await self.bot._post("sendMessage", {"chat_id": chat_id, **kwargs})

    async def call(self, request: Callable[[], Awaitable[T]]) -> tuple[Delivery, T | None]:
        """Make one Bot API request (``request`` makes a fresh call each time) with the channel's
        policy: 429 waits retry_after and repeats, network errors and 5xx are retried with backoff,
        403 is UNREACHABLE and 400 FAILED, neither retried."""
        failures = 0
        waits = 0
        while True:
            try:
                return Delivery.DELIVERED, await request()
            except RetryAfter as error:
                delay = retry_after_seconds(error)
                waits += 1
                if delay > self.max_retry_after or waits > 5:
                    log.warning("giving up after repeated flood control (%.0f s)", delay)
                    return Delivery.FAILED, None
                await asyncio.sleep(delay)
            except Forbidden:
                return Delivery.UNREACHABLE, None
            except BadRequest as error:  # a subclass of NetworkError: must come first, never retried
                log.warning("Telegram refused a request (%s)", type(error).__name__)
                return Delivery.FAILED, None
            except NetworkError as error:  # includes TimedOut and 5xx answers
                if failures >= len(self.retry_delays):
                    log.warning("giving up after %d network errors (%s)", failures + 1, type(error).__name__)
                    return Delivery.FAILED, None
                await asyncio.sleep(self.retry_delays[failures])
                failures += 1

    async def send_file(self, chat_id: int | str, attachment: Attachment, **kwargs: Any) -> Any:
        """One photo or document, by Telegram file_id (``telegram:`` ref) or from a local path
        (``file:`` ref). ``kwargs`` go to sendPhoto/sendDocument (caption, message_thread_id…)."""
        content: Any
        filename = None
        if attachment.ref.startswith(TELEGRAM_REF):
            content = attachment.ref.removeprefix(TELEGRAM_REF)
        elif attachment.ref.startswith(FILE_REF):
            path = Path(attachment.ref.removeprefix(FILE_REF))
            content, filename = await asyncio.to_thread(read_stored, path), attachment.name or path.name
        else:
            raise ValueError("only telegram: and file: attachments can be sent on Telegram")
        if not kwargs.get("caption"):
            kwargs.pop("caption", None)
        if attachment.kind == AttachmentKind.PHOTO:
            return await self.bot.send_photo(chat_id=chat_id, photo=content, **kwargs)
        return await self.bot.send_document(chat_id=chat_id, document=content, filename=filename, **kwargs)

    # -- files

    async def _fetch(self, attachment: Attachment) -> Attachment:
        """Download an acceptable file into files_dir, named by its sha256. Files too big or of a type we
        do not take are passed on undownloaded with their real size and type: the core explains."""
        if not attachment.ref.startswith(TELEGRAM_REF):
            return attachment
        if attachment.size > self.max_file_bytes or attachment.mime not in self.allowed_mimes:
            return attachment
        file_id = attachment.ref.removeprefix(TELEGRAM_REF)
        data: bytes | None = None
        for delay in (*self.retry_delays, None):
            try:
                telegram_file = await self.bot.get_file(file_id)
                data = bytes(await telegram_file.download_as_bytearray())
                break
            except BadRequest as error:  # "file is too big", "invalid file_id"
                log.warning("getFile refused (%s)", type(error).__name__)
                return attachment
            except NetworkError as error:
                if delay is None:
                    log.warning("file download failed (%s)", type(error).__name__)
                    return attachment
                await asyncio.sleep(delay)
        if data is None or len(data) > self.max_file_bytes:
            return replace(attachment, size=len(data) if data is not None else attachment.size)
        # The declared type comes from the sender's file name; the bytes decide (and what does not open is
        # not kept: the form refuses it and says why).
        stored = await store_received(self.files_dir, data, name=attachment.name)
        if stored.mime == UNREADABLE:
            return replace(attachment, mime=UNREADABLE, size=len(data))
        return replace(attachment, ref=stored.ref, mime=stored.mime, size=len(data), sha256=stored.sha256)


async def _call_if_present(port: object, name: str, contact: ContactKey) -> None:
    method = getattr(port, name, None)
    if method is None:
        return
    result = method(contact)
    if inspect.isawaitable(result):
        await result
