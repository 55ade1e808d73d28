"""The staff desk: the association's Telegram group where staff see new requests and talk to beneficiaries.

    desk = StaffDesk(app.service, app.form, settings.staff_chat_id, admin_ids=settings.admin_ids)
    desk.attach(channel)          # handlers on the channel's Application, the service's listener, senders
    await desk.start()            # after the channel has started; `await desk.stop()` before it stops

- A new support request posts a card with masked data and buttons (claim, full record and attachments,
  both sent to the pressing staff member in private) and the committee's decisions that are legal from the
  request's status (`decision_buttons`). Claiming puts the request "under study". A decision edits the
  card: the new status, who recorded it, and the buttons legal from there.
- Reject and "need more information" need a note: without one the bot asks in the group ("reply to this
  message", ForceReply for the presser) and the staff member's reply completes the decision. The question
  is a row in desk_prompt, so a reply after a restart still works.
- "Talk to a person", "the procedure is unclear" and unanswered questions open one thread per
  beneficiary: a forum topic when the group is a forum, otherwise a card that staff reply to. The
  beneficiary's messages are copied into it; a staff reply there reaches the beneficiary on their own
  channel (through `senders`) and the bot stays quiet until `/close`.
- Staff commands: /pending, /find REF, /close, /help; decisions /approve REF [note], /reject REF reason,
  /needinfo REF missing fields, /registered REF, /delivered REF (or written as a reply to a request's
  card, without REF); /stats and /report (a PNG chart). Only members of the staff chat and configured
  admins may use the buttons and commands; anything else is refused and audited.
- A low satisfaction rating (1 or 2) is posted in the beneficiary's thread, or the group, so someone calls
  back; `post_alert` queues the outbox's alerts and the daily digest.
- Posts to the group go through one queue and one worker: a burst waits for the group's flood limit
  (FloodLimiter) instead of being dropped, and keeps its order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.reporting import chart_png, stats_text
from flows.decisions import DecisionOutcome, DecisionService
from flows.engine import display_value
from flows.form import FormDefinition
from flows.lifecycle import LEGAL, NEEDS_NOTE, Action, Refused, transition
from flows.lookup import find_requests, parse_national_id, same_id_line
from flows.messages import Attachment, AttachmentKind, Outbound
from flows.service import ConversationService, EscalationOpened, RelayedMessage, RequestCreated, StaffNotice
from flows.survey import LowRating
from flows.text import ascii_digits, clean
from handlers.telegram import FILE_REF, TELEGRAM_REF, Delivery, TelegramChannel, split_text
from locales import N_, Translator, translator
from storage import desk as desk_repo
from storage import repo
from storage.desk import DeskPrompt, StaffMessageKind, StaffThread, ThreadStatus
from storage.files import write_once
from storage.models import Attachment as StoredAttachment
from storage.models import Contact, RequestStatus, SupportRequest

log = logging.getLogger(__name__)

STAFF_CHANNEL = "telegram-staff"  # processed_message channel for staff-chat updates
CALLBACK_PREFIX = "s:"
DECISION_COMMANDS = ("approve", "reject", "needinfo", "registered", "delivered")  # = Action values
STAFF_COMMANDS = ("pending", "find", "close", "help", *DECISION_COMMANDS, "stats", "report")
PENDING_LIMIT = 30
_SIGNATURE_CHARS = 11  # base64url of HMAC-SHA256, cut: 66 bits, and callback_data stays short
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?$", re.DOTALL)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_LTR = "\u2068{}\u2069"  # keeps digits and + in order inside Arabic text
_REFERENCE_RE = re.compile(r"#?(\d{4})[-_\u2010-\u2015](\d{1,6})")
_MENTION = "\x00"  # where the presser's name goes in a question, so its entity offset can be found

# The committee's decisions on a card, in rows; only those legal from the request's status are shown.
DECISION_ROWS: tuple[tuple[Action, ...], ...] = (
    (Action.APPROVE, Action.REJECT),
    (Action.NEED_INFO,),
    (Action.REGISTER,),
    (Action.DELIVER,),
)
DECISION_LABELS = {
    Action.APPROVE: N_("desk.button.approve"),
    Action.REJECT: N_("desk.button.reject"),
    Action.NEED_INFO: N_("desk.button.needinfo"),
    Action.REGISTER: N_("desk.button.registered"),
    Action.DELIVER: N_("desk.button.delivered"),
}
PROMPT_KEYS = {Action.REJECT: N_("desk.prompt.reject"), Action.NEED_INFO: N_("desk.prompt.needinfo")}

Sender = Callable[[Contact, list[Outbound]], Awaitable[bool]]
"""Delivers messages to a beneficiary on their own channel; True when delivered."""


class StaffAction(StrEnum):
    CLAIM = "claim"
    RECORD = "record"
    FILES = "files"


@dataclass(frozen=True)
class ButtonPress:
    """A staff member (already checked) pressed a button on a request card."""

    query: CallbackQuery
    request: SupportRequest
    user: User
    actor: str  # "staff:<telegram user id>", for the audit log


class Answered:
    """What a handler returns when it has answered the press itself, before slow work: editing the card
    or posting a question waits for the group's flood limit, and a press must be answered within seconds."""


ANSWERED = Answered()
Answer = tuple[str, bool] | Answered | None  # the answerCallbackQuery text and whether it is an alert
ActionHandler = Callable[[ButtonPress], Awaitable[Answer]]


@dataclass(frozen=True)
class StaffAlert:
    """A text for the staff group from elsewhere (the outbox's alerts, the daily digest)."""

    text: str


def legal_actions(status: str) -> frozenset[Action]:
    try:
        return LEGAL[RequestStatus(status)]
    except ValueError:
        return frozenset()


def decision_buttons(
    request: SupportRequest, data: Callable[[str, int], str], t: Translator | None = None
) -> list[list[InlineKeyboardButton]]:
    """Rows of the committee's decision buttons on a request card (approve, reject, need more information,
    registered, delivered): only those legal from the request's status. ``data`` signs the action."""
    t = t or translator("ar")
    legal = legal_actions(request.status)
    rows = []
    for row in DECISION_ROWS:
        buttons = [
            InlineKeyboardButton(t(DECISION_LABELS[action]), callback_data=data(action.value, request.id))  # type: ignore[arg-type]
            for action in row
            if action in legal
        ]
        if buttons:
            rows.append(buttons)
    return rows


def parse_reference(text: str) -> str | None:
    """«٢٠٢٦-١٢», "2026-12" or a reference copied from a card (with its direction marks) -> "2026-00012"."""
    match = _REFERENCE_RE.fullmatch(ascii_digits(clean(text)))
    if match is None:
        return None
    return f"{match.group(1)}-{int(match.group(2)):05d}"


def telegram_sender(channel: TelegramChannel) -> Sender:
    async def send(contact: Contact, messages: list[Outbound]) -> bool:
        return await channel.send(int(contact.channel_user_id), messages) is Delivery.DELIVERED

    return send


# ---- masking: what the group sees of a beneficiary ------------------------------------------------


def mask_name(full_name: object) -> str:
    """«فاطمة محمد العتيبي» -> «فاطمة م. ع.»: the first name and the initials of the others."""
    parts = str(full_name or "").split()
    if not parts:
        return "—"
    return " ".join([parts[0], *(f"{_initial(part)}." for part in parts[1:])])


def _initial(word: str) -> str:
    if word.startswith("ال") and len(word) > 3:  # the article: «العتيبي» is filed under ع
        word = word[2:]
    if "-" in word.strip("-"):
        word = word.strip("-").rsplit("-", 1)[1]
    return word[:1]


def mask_national_id(value: object) -> str:
    """«1000000008» -> «******0008»."""
    digits = re.sub(r"\D", "", str(value or "").translate(_DIGITS))
    if len(digits) <= 4:
        return "*" * len(digits) or "—"
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_mobile(value: object) -> str:
    """«+966501234567» -> «+9665*****567»: the country and mobile prefix, and the last three digits."""
    text = str(value or "").translate(_DIGITS).replace(" ", "")
    if re.fullmatch(r"\+9665\d{8}", text):
        return text[:5] + "*" * 5 + text[-3:]
    digits = re.sub(r"\D", "", text)
    if len(digits) <= 3:
        return "*" * len(digits) or "—"
    return "*" * (len(digits) - 3) + digits[-3:]


# ---- the desk -------------------------------------------------------------------------------------


@dataclass
class _Target:
    contact_id: int
    thread: StaffThread | None


class StaffDesk:
    def __init__(
        self,
        service: ConversationService,
        form: FormDefinition,
        chat_id: int,
        *,
        admin_ids: Sequence[int] = (),
        senders: Mapping[str, Sender] | None = None,
        lang: str = "ar",
        timezone: str = "Asia/Riyadh",
        member_cache_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        decisions: DecisionService | None = None,
    ) -> None:
        self.service = service
        self.form = form
        self.chat_id = chat_id
        self.admin_ids = frozenset(admin_ids)
        self.senders: dict[str, Sender] = dict(senders or {})
        self.lang = lang
        self.t = translator(lang)
        self.zone = ZoneInfo(timezone)
        self.member_cache_seconds = member_cache_seconds
        self._monotonic = monotonic
        self.decisions = decisions or DecisionService(
            service.db, service.clock, form, survey_delay=service.settings.survey_delay
        )
        self.actions: dict[str, ActionHandler] = {
            StaffAction.CLAIM: self._claim,
            StaffAction.RECORD: self._send_record,
            StaffAction.FILES: self._send_files,
        }
        for action in DECISION_LABELS:
            self.actions[action.value] = partial(self._decision_pressed, action)
        self._channel: TelegramChannel | None = None
        self._key = b""
        self._members: dict[int, tuple[bool, float]] = {}
        self._is_forum: bool | None = None
        self._queue: asyncio.Queue[StaffNotice | StaffAlert] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        # More cards, buttons and commands (handlers/desk_forms.py): on_notice / on_callback / on_message.
        self.extensions: list[Any] = []

    @property
    def channel(self) -> TelegramChannel:
        if self._channel is None:
            raise RuntimeError("StaffDesk.attach(channel) first")
        return self._channel

    # -- wiring and lifecycle

    def attach(self, channel: TelegramChannel, handler_group: int = 1) -> None:
        """Handle the staff chat's updates on the channel's Application, listen to the service's notices,
        and reply to Telegram beneficiaries through the channel."""
        self._channel = channel
        self._key = hashlib.sha256(b"mustafid-staff-desk:" + channel.bot.token.encode()).digest()
        channel.application.add_handlers(
            [
                MessageHandler(filters.Chat(self.chat_id) & filters.UpdateType.MESSAGE, self._on_message),
                _GroupCallbackQueryHandler(self._on_callback),
            ],
            group=handler_group,
        )
        self.service.listeners.append(self.notify)
        self.senders.setdefault("telegram", telegram_sender(channel))

    async def start(self) -> None:
        """Start posting queued notices and show the staff commands in the group's menu. Call it once
        the channel has started."""
        self._ensure_worker()
        t = self.t
        commands = [
            BotCommand("pending", t("desk.cmd.pending")),
            BotCommand("find", t("desk.cmd.find")),
            BotCommand("close", t("desk.cmd.close")),
            BotCommand("approve", t("desk.cmd.approve")),
            BotCommand("reject", t("desk.cmd.reject")),
            BotCommand("needinfo", t("desk.cmd.needinfo")),
            BotCommand("registered", t("desk.cmd.registered")),
            BotCommand("delivered", t("desk.cmd.delivered")),
            BotCommand("stats", t("desk.cmd.stats")),
            BotCommand("report", t("desk.cmd.report")),
            BotCommand("help", t("desk.cmd.help")),
        ]
        with contextlib.suppress(TelegramError):
            await self.channel.bot.set_my_commands(commands, scope=BotCommandScopeChat(self.chat_id))

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
                else:
                    for extension in self.extensions:
                        if await extension.on_notice(notice):
                            break
            except Exception as exc:  # one bad notice must not stop the desk
                log.exception("posting a staff notice failed (%s)", type(exc).__name__)
            finally:
                self._queue.task_done()

    # -- callback data

    def callback_data(self, action: str, request_id: int) -> str:
        body = f"{action}:{request_id}"
        return f"{CALLBACK_PREFIX}{body}:{self._sign(body)}"

    def parse_callback_data(self, data: object) -> tuple[str, int] | None:
        """(action, request id) from callback data this desk signed; None for anything else."""
        if not isinstance(data, str) or not data.startswith(CALLBACK_PREFIX) or len(data.encode()) > 64:
            return None
        parts = data[len(CALLBACK_PREFIX) :].split(":")
        if len(parts) != 3 or not all(part.isascii() for part in parts) or not parts[1].isdigit():
            return None
        action, request_id, signature = parts
        if action not in self.actions or not hmac.compare_digest(
            signature, self._sign(f"{action}:{request_id}")
        ):
            return None
        return action, int(request_id)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_CHARS]

    # -- who may act

    async def is_staff(self, user: User | None) -> bool:
        """A configured admin, or a member of the staff chat (asked of Telegram, remembered briefly)."""
        if user is None or user.is_bot:
            return False
        if user.id in self.admin_ids:
            return True
        now = self._monotonic()
        cached = self._members.get(user.id)
        if cached is not None and cached[1] > now:
            return cached[0]
        delivery, member = await self.channel.call(
            lambda: self.channel.bot.get_chat_member(chat_id=self.chat_id, user_id=user.id)
        )
        if member is None:
            return False  # not remembered: Telegram may answer next time
        status = member.status
        allowed = status in (
            ChatMemberStatus.OWNER,
            ChatMemberStatus.ADMINISTRATOR,
            ChatMemberStatus.MEMBER,
        ) or (status == ChatMemberStatus.RESTRICTED and bool(getattr(member, "is_member", False)))
        self._members[user.id] = (allowed, now + self.member_cache_seconds)
        return allowed

    async def _sender_allowed(self, message: Message) -> bool:
        # An anonymous group admin writes as the group itself.
        if message.sender_chat is not None:
            return message.sender_chat.id == self.chat_id
        return await self.is_staff(message.from_user)

    async def _refuse(self, user: User | None, kind: str, reason: str) -> None:
        actor = f"telegram:{user.id}" if user is not None else "telegram:unknown"
        async with self.service.db.transaction() as session:
            await repo.audit(
                session, actor, "staff.refused", "staff-chat", self._now(), kind=kind, reason=reason
            )

    async def _first_time(self, update: Update) -> bool:
        """Telegram delivers at least once: act on each update id once."""
        async with self.service.db.transaction() as session:
            return await repo.mark_processed(session, STAFF_CHANNEL, f"tg:{update.update_id}", self._now())

    # -- staff-chat updates: messages and commands

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.chat.id != self.chat_id:
            return
        sender = message.from_user
        if message.sender_chat is None and (sender is None or sender.is_bot):
            return
        if message.sender_chat is not None and message.sender_chat.id != self.chat_id:
            return  # a linked channel's post, not a person
        command, argument = self._command_of(message.text)
        for extension in self.extensions:
            if await extension.on_message(update, message, command, argument):
                return
        if command is not None and command not in STAFF_COMMANDS:
            return
        target = None
        prompt = await self._prompt_of(message) if command is None else None
        # A reply to the bot's question is the decision's note, never a message for a beneficiary.
        if prompt is None and command in (None, "close"):
            target = await self._target_of(message)
            if command is None and target is None:
                return  # staff talking among themselves
        if not await self._first_time(update):
            return
        if not await self._sender_allowed(message):
            await self._refuse(sender, "command" if command else "reply", "not_member")
            await self._reply(message, self.t("desk.refused"))
            return
        actor = (
            f"staff:{sender.id}" if sender is not None and message.sender_chat is None else "staff:anonymous"
        )
        try:
            if prompt is not None:
                await self._answer_prompt(message, prompt, actor)
            elif command == "pending":
                await self._pending(message)
            elif command == "find":
                await self._find(message, argument)
            elif command == "help":
                await self._reply(message, self.t("desk.help") + "\n\n" + self.t("desk.help.decisions"))
            elif command in DECISION_COMMANDS:
                await self._decision_command(message, Action(command), argument, actor)
            elif command == "stats":
                await self._stats(message)
            elif command == "report":
                await self._report(message)
            elif command == "close":
                if target is None:
                    await self._reply(message, self.t("desk.close.where"))
                else:
                    await self._close(message, target, actor)
            elif target is not None:
                await self._relay_to_beneficiary(message, target, actor)
        except Exception as exc:  # the staff member hears that it did not work, instead of silence
            log.exception("a staff message could not be handled (%s)", type(exc).__name__)
            await self._reply(message, self.t("desk.failed"))

    def _command_of(self, text: str | None) -> tuple[str | None, str]:
        """(command, argument) of "/find@MustafidBot 2026-00012"; ("", "") for another bot's command."""
        match = _COMMAND_RE.match(text or "")
        if match is None:
            return None, ""
        name, mention, argument = match.group(1).lower(), match.group(2), (match.group(3) or "").strip()
        if mention and mention.lower() != self.channel.bot.username.lower():
            return "", ""
        return name, argument

    async def _target_of(self, message: Message) -> _Target | None:
        """The beneficiary a staff message is for: its forum topic, or the mapped message it replies to."""
        async with self.service.db.transaction() as session:
            if message.is_topic_message and message.message_thread_id:
                thread = await desk_repo.thread_by_topic(session, self.chat_id, message.message_thread_id)
                if thread is not None:
                    return _Target(thread.contact_id, thread)
            replied = message.reply_to_message
            if replied is None:
                return None
            link = await desk_repo.message_link(session, self.chat_id, replied.message_id)
            if link is None:
                return None
            thread = await desk_repo.thread_by_id(session, link.thread_id) if link.thread_id else None
            return _Target(link.contact_id, thread)

    async def _relay_to_beneficiary(self, message: Message, target: _Target, actor: str) -> None:
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

    async def _close(self, message: Message, target: _Target, actor: str) -> None:
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

    async def _pending(self, message: Message) -> None:
        t = self.t
        async with self.service.db.transaction() as session:
            requests = await desk_repo.open_requests(session, PENDING_LIMIT)
            request_count = await desk_repo.count_open_requests(session)
            threads = await desk_repo.open_threads(session, self.chat_id, PENDING_LIMIT)
            thread_count = await desk_repo.count_open_threads(session, self.chat_id)
            labels = {thread.id: await self._who(session, thread.contact_id) for thread in threads}
        lines: list[str] = []
        if requests:
            lines.append(t("desk.pending.requests", count=t.number(request_count)))
            for request, card in requests:
                params = {
                    "reference": _LTR.format(request.reference),
                    "name": mask_name(request.data.get("full_name")),
                    "status": self._status(request.status),
                    "date": self._short_date(request.submitted_at),
                }
                if card is not None and card.claimed_by_name:
                    lines.append(
                        t("desk.pending.request_line_claimed", claimer=card.claimed_by_name, **params)
                    )
                else:
                    lines.append(t("desk.pending.request_line", **params))
            if request_count > len(requests):
                lines.append(t("desk.pending.more", count=t.number(request_count - len(requests))))
        else:
            lines.append(t("desk.pending.none_requests"))
        lines.append("")
        if threads:
            lines.append(t("desk.pending.threads", count=t.number(thread_count)))
            for thread in threads:
                params = {
                    "who": labels[thread.id],
                    "reason": self._reason_title(thread.reason),
                    "date": self._short_date(thread.opened_at),
                }
                if thread.held:
                    lines.append(t("desk.pending.thread_line_held", **params))
                else:
                    lines.append(t("desk.pending.thread_line", **params))
            if thread_count > len(threads):
                lines.append(t("desk.pending.more", count=t.number(thread_count - len(threads))))
        else:
            lines.append(t("desk.pending.none_threads"))
        await self._reply(message, "\n".join(lines))

    async def _find(self, message: Message, argument: str) -> None:
        token = argument.strip()  # a national ID may be typed with spaces; a reference is one word
        if not parse_national_id(token):
            token = token.split()[0] if token.split() else ""
        if not token:
            await self._reply(message, self.t("desk.find.usage"))
            return
        async with self.service.db.transaction() as session:
            cards = [await self._card(session, request) for request in await find_requests(session, token)]
        if not cards:
            shown = parse_reference(token) or ascii_digits(clean(token))  # "2026-12" is 2026-00012
            await self._reply(message, self.t("desk.find.not_found", reference=_LTR.format(shown[:20])))
            return
        for text, markup in cards[:PENDING_LIMIT]:
            await self._reply(message, text, markup=markup)

    # -- staff-chat updates: buttons

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        for extension in self.extensions:
            if await extension.on_callback(update):
                return
        if not await self._first_time(update):
            return
        chat = query.message.chat if query.message is not None else None
        parsed = (
            self.parse_callback_data(query.data) if chat is not None and chat.id == self.chat_id else None
        )
        if parsed is None:
            await self._refuse(query.from_user, "button", "forged")
            await self._answer(query, self.t("desk.refused.forged"), alert=True)
            return
        if not await self.is_staff(query.from_user):
            await self._refuse(query.from_user, "button", "not_member")
            await self._answer(query, self.t("desk.refused"), alert=True)
            return
        action, request_id = parsed
        async with self.service.db.transaction() as session:
            request = await session.get(SupportRequest, request_id)
        if request is None:
            await self._answer(query, self.t("desk.request.not_found"), alert=True)
            return
        press = ButtonPress(
            query=query, request=request, user=query.from_user, actor=f"staff:{query.from_user.id}"
        )
        try:
            answer = await self.actions[action](press)
        except Exception as exc:
            log.exception("a staff button could not be handled (%s)", type(exc).__name__)
            answer = self.t("desk.failed"), True
        if answer is None:
            await self._answer(query, None)
        elif not isinstance(answer, Answered):
            await self._answer(query, answer[0], alert=answer[1])

    async def _answer(self, query: CallbackQuery, text: str | None, alert: bool = False) -> None:
        await self.channel.call(lambda: query.answer(text=text[:200] if text else None, show_alert=alert))

    async def _claim(self, press: ButtonPress) -> Answer:
        request, user, now = press.request, press.user, self._now()
        pressed = press.query.message
        async with self.service.db.transaction() as session:
            await self._adopt_card(session, request, pressed)
            claimed, card = await desk_repo.claim(session, request.id, user.id, user.full_name, now)  # type: ignore[arg-type]
            if claimed:
                await repo.audit(session, press.actor, "request.claimed", f"request:{request.reference}", now)
        if card is not None and card.claimed_by != user.id:
            return self.t("desk.claim.taken", name=card.claimed_by_name or "—"), True
        if Action.STUDY in legal_actions(request.status):
            # A refusal here means someone decided meanwhile: the claim stands, the card shows the news.
            await self.decisions.decide(request.reference, Action.STUDY, press.actor)
        await self._refresh_card(request.id, also=_message_ids(pressed))  # type: ignore[arg-type]
        return self.t("desk.claim.done", reference=request.reference), False

    async def _adopt_card(self, session: AsyncSession, request: SupportRequest, pressed: object) -> None:
        if pressed is not None and await desk_repo.card_of(session, request.id) is None:  # type: ignore[arg-type]
            # The card was posted but not recorded (a crash in between): the pressed one stands in.
            await desk_repo.save_card(session, request.id, self.chat_id, pressed.message_id, self._now())  # type: ignore[arg-type, attr-defined]

    # -- decisions: buttons, commands, and the questions that ask for a note

    async def _decision_pressed(self, action: Action, press: ButtonPress) -> Answer:
        request, pressed, query = press.request, press.query.message, press.query
        refusal = self._refusal(request, action)
        if refusal is not None:
            await self._answer(query, refusal, alert=True)
            await self._refresh_pressed(request.id, pressed)  # type: ignore[arg-type]
            return ANSWERED
        async with self.service.db.transaction() as session:
            await self._adopt_card(session, request, pressed)
        if action in NEEDS_NOTE:
            await self._answer(query, self.t("desk.prompt.asked"))
            await self._ask_note(
                request,
                action,
                press.user,
                about=pressed if isinstance(pressed, Message) else None,
                card_message_id=pressed.message_id if pressed is not None else None,
            )
            return ANSWERED
        outcome = await self.decisions.decide(request.reference, action, press.actor)
        await self._answer(query, outcome.staff_text(self.lang), alert=not outcome.ok)
        if outcome.ok:
            await self._show_decision(request.id, outcome, press.user.full_name, _message_ids(pressed))  # type: ignore[arg-type]
        else:
            await self._refresh_pressed(request.id, pressed)  # type: ignore[arg-type]
        return ANSWERED

    async def _decision_command(self, message: Message, action: Action, argument: str, actor: str) -> None:
        t = self.t
        request, note = await self._request_and_note(message, argument)
        if request is None:
            if note is not None:  # a reference that matches no request
                await self._reply(message, t("decision.not_found", reference=_LTR.format(note[:20])))
                return
            example = f"/{action.value} 2026-00012"
            if action in NEEDS_NOTE:
                example += " " + t("desk.decision.example_note")
            await self._reply(message, t("desk.decision.usage", example=example))
            return
        refusal = self._refusal(request, action)
        if refusal is not None:
            await self._reply(message, refusal)
            return
        if action in NEEDS_NOTE and not note:
            user = message.from_user if message.sender_chat is None else None
            if not await self._ask_note(request, action, user, about=message, card_message_id=None):
                await self._reply(message, t("desk.failed"))
            return
        outcome = await self._decide(request, action, actor, self._name_of(message), note or None)
        await self._reply(message, outcome.staff_text(self.lang))

    async def _request_and_note(
        self, message: Message, argument: str
    ) -> tuple[SupportRequest | None, str | None]:
        """The request a decision command is about, and its note: "/reject 2026-00012 reason", or
        "/reject reason" written as a reply to the request's card. (None, the reference) when the reference
        matches no request; (None, None) when there is no reference."""
        parts = argument.split(maxsplit=1)
        reference = parse_reference(parts[0]) if parts else None
        async with self.service.db.transaction() as session:
            if reference is not None:
                request = await repo.request_by_reference(session, reference)
                note = parts[1].strip() if len(parts) > 1 else ""
                return (request, note) if request is not None else (None, reference)
            replied = message.reply_to_message
            card = None
            if replied is not None:
                card = await desk_repo.card_by_message(session, self.chat_id, replied.message_id)
            if card is None:
                return None, None
            return await session.get(SupportRequest, card.request_id), argument.strip()

    async def _prompt_of(self, message: Message) -> DeskPrompt | None:
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or not replied.from_user.is_bot:
            return None
        async with self.service.db.transaction() as session:
            return await desk_repo.prompt_at(session, self.chat_id, replied.message_id)

    async def _ask_note(
        self,
        request: SupportRequest,
        action: Action,
        user: User | None,
        *,
        about: Message | None,
        card_message_id: int | None,
    ) -> bool:
        """Ask in the group for the reason (reject) or what is missing (need info), as a reply to ``about``
        (the card or the command) with ForceReply for the presser; the question is remembered."""
        t = self.t
        name = user.full_name if user is not None else t("desk.actor.anonymous")
        separator = ", " if self.lang == "en" else "، "
        fields = separator.join(t(form_field.label) for form_field in self.form.fields)
        text = t(PROMPT_KEYS[action], name=_MENTION, reference=_LTR.format(request.reference), fields=fields)
        before, _, after = text.partition(_MENTION)
        text = before + name + after
        entities = None
        if user is not None:
            entities = [MessageEntity(MessageEntity.TEXT_MENTION, _utf16(before), _utf16(name), user=user)]
        placement = self._reply_placement(about) if about is not None else {}
        markup = ForceReply(selective=True, input_field_placeholder=t("desk.prompt.placeholder")[:64])
        sent = await self._post(text, entities=entities, reply_markup=markup, **placement)
        if sent is None:
            return False
        async with self.service.db.transaction() as session:
            await desk_repo.add_prompt(
                session,
                DeskPrompt(
                    chat_id=self.chat_id,
                    message_id=sent.message_id,
                    request_id=request.id,  # type: ignore[arg-type]
                    action=action.value,
                    asked_by=user.id if user is not None else None,
                    card_message_id=card_message_id,
                    created_at=self._now(),
                ),
            )
        return True

    async def _answer_prompt(self, message: Message, prompt: DeskPrompt, actor: str) -> None:
        """A staff member (not necessarily the one asked) replied to the bot's question: decide with it."""
        t = self.t
        if prompt.answered_at is not None:
            await self._reply(message, t("desk.prompt.used"))
            return
        note = (message.text or "").strip()
        if not note:
            await self._reply(message, t("desk.prompt.text_only"))
            return
        async with self.service.db.transaction() as session:
            request = await session.get(SupportRequest, prompt.request_id)
        if request is None:
            await self._reply(message, t("desk.request.not_found"))
            return
        also = (prompt.card_message_id,) if prompt.card_message_id else ()
        outcome = await self._decide(
            request, Action(prompt.action), actor, self._name_of(message), note, also
        )
        if outcome.ok:
            async with self.service.db.transaction() as session:
                await desk_repo.answer_prompt(session, prompt.id, self._now())  # type: ignore[arg-type]
        await self._reply(message, outcome.staff_text(self.lang))

    async def _decide(
        self,
        request: SupportRequest,
        action: Action,
        actor: str,
        name: str,
        note: str | None,
        also: Sequence[int] = (),
    ) -> DecisionOutcome:
        """Record the decision (DecisionService: status, history, audit, the applicant's notification),
        then show it on the card with who recorded it."""
        outcome = await self.decisions.decide(request.reference, action, actor, note)
        if outcome.ok:
            await self._show_decision(request.id, outcome, name, also)  # type: ignore[arg-type]
        return outcome

    async def _show_decision(
        self, request_id: int, outcome: DecisionOutcome, name: str, also: Sequence[int] = ()
    ) -> None:
        async with self.service.db.transaction() as session:
            await desk_repo.record_action(session, request_id, outcome.to_status or "", name, self._now())
        await self._refresh_card(request_id, also=also)

    def _refusal(self, request: SupportRequest, action: Action) -> str | None:
        """Why ``action`` cannot be taken on the request now (checked before asking for a note)."""
        result = transition(request.status, action, "-")
        if isinstance(result, Refused):
            return self.t(result.reason_key, status=self._status(request.status))
        return None

    async def _refresh_card(self, request_id: int, also: Sequence[int] = ()) -> None:
        """Edit the request's card (and any other copy pressed, e.g. from /find) to show it as it is now."""
        async with self.service.db.transaction() as session:
            request = await session.get(SupportRequest, request_id)
            if request is None:
                return
            card = await desk_repo.card_of(session, request_id)
            text, markup = await self._card(session, request)
        message_ids = [card.message_id] if card is not None and card.chat_id == self.chat_id else []
        message_ids += [message_id for message_id in also if message_id not in message_ids]
        for message_id in message_ids:
            await self.channel.call(
                lambda message_id=message_id: self.channel.bot.edit_message_text(
                    text, chat_id=self.chat_id, message_id=message_id, reply_markup=markup
                )
            )

    async def _refresh_pressed(self, request_id: int, pressed: object) -> None:
        """A refused press: the card showed an old state; show the current one (if it differs)."""
        if not isinstance(pressed, Message):
            return
        async with self.service.db.transaction() as session:
            request = await session.get(SupportRequest, request_id)
            if request is None:
                return
            text, markup = await self._card(session, request)
        shown = pressed.reply_markup.to_dict() if pressed.reply_markup is not None else None
        if pressed.text == text and shown == markup.to_dict():
            return
        await self.channel.call(
            lambda: self.channel.bot.edit_message_text(
                text, chat_id=self.chat_id, message_id=pressed.message_id, reply_markup=markup
            )
        )

    def _name_of(self, message: Message) -> str:
        if message.sender_chat is None and message.from_user is not None:
            return message.from_user.full_name
        return self.t("desk.actor.anonymous")

    # -- managers' figures

    async def _stats(self, message: Message) -> None:
        text = await stats_text(self.service.db, self.service.clock, self.lang, tz=self.zone.key)
        await self._reply(message, text)

    async def _report(self, message: Message) -> None:
        placement = self._reply_placement(message)
        thread = (
            {"message_thread_id": placement["message_thread_id"]} if "message_thread_id" in placement else {}
        )
        await self.channel.call(
            lambda: self.channel.bot.send_chat_action(self.chat_id, ChatAction.UPLOAD_PHOTO, **thread)
        )
        png = await chart_png(self.service.db, self.service.clock, self.lang, tz=self.zone.key)
        caption = self.t("desk.report.caption")
        _, sent = await self.channel.call(
            lambda: self.channel.bot.send_photo(self.chat_id, png, caption=caption, **placement)
        )
        if sent is None:
            await self._reply(message, self.t("desk.failed"))

    async def _send_record(self, press: ButtonPress) -> Answer:
        request, t = press.request, self.t
        lines = [t("desk.record.title", reference=_LTR.format(request.reference))]
        for form_field in self.form.fields:
            lines.append(
                f"• {t(form_field.label)}: {display_value(form_field, request.data.get(form_field.name), t)}"
            )
        lines.append(t("desk.record.status", status=self._status(request.status)))
        lines.append(
            t("desk.record.dates", submitted=self._date(request.submitted_at), due=self._date(request.due_at))
        )
        lines.append(
            t(
                "desk.record.declaration",
                version=request.declaration_version,
                date=self._date(request.declared_at),
            )
        )
        user_id = press.user.id
        for chunk in split_text("\n".join(lines)):
            delivery, _ = await self.channel.call(
                lambda chunk=chunk: self.channel.bot.send_message(user_id, chunk)
            )
            if delivery is Delivery.UNREACHABLE:
                return t("desk.private.start_first"), True
            if delivery is not Delivery.DELIVERED:
                return t("desk.failed"), True
        async with self.service.db.transaction() as session:
            await repo.audit(
                session, press.actor, "request.record_viewed", f"request:{request.reference}", self._now()
            )
        return t("desk.record.sent"), False

    async def _send_files(self, press: ButtonPress) -> Answer:
        request, t = press.request, self.t
        async with self.service.db.transaction() as session:
            stored = await repo.attachments_of(session, request.id)  # type: ignore[arg-type]
        if not stored:
            return t("desk.files.none"), True
        user_id = press.user.id
        for row in stored:
            form_field = self.form.field(row.field)
            label = t(form_field.label) if form_field is not None else row.field
            caption = t("desk.file.caption", label=label, reference=_LTR.format(request.reference))
            attachment = _from_stored(row)
            try:
                delivery, _ = await self.channel.call(
                    lambda a=attachment, c=caption: self.channel.send_file(user_id, a, caption=c)
                )
            except (OSError, ValueError):
                delivery, _ = await self.channel.call(
                    lambda lbl=label: self.channel.bot.send_message(
                        user_id, t("desk.file.missing", label=lbl)
                    )
                )
            if delivery is Delivery.UNREACHABLE:
                return t("desk.private.start_first"), True
        async with self.service.db.transaction() as session:
            await repo.audit(
                session, press.actor, "request.files_viewed", f"request:{request.reference}", self._now()
            )
        return t("desk.files.sent"), False

    # -- notices from the service: posted by the worker, in order

    async def _post_request(self, notice: RequestCreated) -> None:
        async with self.service.db.transaction() as session:
            request = await session.get(SupportRequest, notice.request_id)
            if request is None:
                return
            text, markup = await self._card(session, request)
        sent = await self._post(text, reply_markup=markup)
        if sent is not None:
            async with self.service.db.transaction() as session:
                await desk_repo.save_card(session, request.id, self.chat_id, sent.message_id, self._now())  # type: ignore[arg-type]

    async def _escalated(self, notice: EscalationOpened) -> None:
        thread, created = await self._thread_for(notice.contact_id, notice.reason)
        if not created:
            note = await self._post(f"🔔 {self._reason_title(notice.reason)}", **self._placement(thread))
            await self._remember(note, thread, StaffMessageKind.NOTE)

    async def _relay_to_staff(self, notice: RelayedMessage) -> None:
        thread, _ = await self._thread_for(notice.contact_id, "message")
        async with self.service.db.transaction() as session:
            who = await self._who(session, notice.contact_id)
        header = self.t("desk.relay.from", who=who)
        placement = self._placement(thread)
        if notice.text:
            for chunk in split_text(f"{header}\n{notice.text}"):
                await self._remember(await self._post(chunk, **placement), thread, StaffMessageKind.INBOUND)
        for attachment in notice.attachments:
            sent = None
            if isinstance(attachment, Attachment) and attachment.ref.startswith((FILE_REF, TELEGRAM_REF)):
                try:
                    _, sent = await self.channel.call(
                        lambda a=attachment: self.channel.send_file(
                            self.chat_id, a, caption=header, **placement
                        )
                    )
                except (OSError, ValueError) as exc:
                    log.warning(
                        "a beneficiary's file could not be copied to the staff chat (%s)", type(exc).__name__
                    )
            if sent is None:
                unavailable = self.t("desk.relay.file_unavailable")
                sent = await self._post(f"{header}\n{unavailable}", **placement)
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
            lines.append(t("desk.lowrating.reference", reference=_LTR.format(notice.reference)))
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

    async def _thread_card(self, session: AsyncSession, contact_id: int, reason: str) -> tuple[str, str]:
        """The text that opens a thread, and the topic name."""
        t = self.t
        contact = await session.get(Contact, contact_id)
        requests = await repo.requests_of(session, contact_id)
        who = await self._who(session, contact_id)
        lines = [
            self._reason_title(reason),
            t("desk.thread.who", who=who, channel=self._channel_name(contact)),
        ]
        if requests:
            latest = requests[0]
            lines.append(
                t(
                    "desk.thread.request",
                    reference=_LTR.format(latest.reference),
                    status=self._status(latest.status),
                )
            )
        if await self._forum():
            lines.append(t("desk.thread.hint_topic"))
        else:
            lines.append(t("desk.thread.hint_reply"))
        return "\n".join(lines), who

    async def _card(self, session: AsyncSession, request: SupportRequest) -> tuple[str, InlineKeyboardMarkup]:
        t = self.t
        attachments = await repo.attachments_of(session, request.id)  # type: ignore[arg-type]
        card = await desk_repo.card_of(session, request.id)  # type: ignore[arg-type]
        support_field = self.form.field("support_type")
        support = (
            display_value(support_field, request.support_type, t) if support_field else request.support_type
        )
        if request.status == RequestStatus.RESUBMITTED:
            lines = [t("desk.card.resubmitted")]
        else:
            lines = [t("desk.card.new")]
        lines.append(
            t(
                "desk.card.body",
                reference=_LTR.format(request.reference),
                name=mask_name(request.data.get("full_name")),
                national_id=_LTR.format(mask_national_id(request.data.get("national_id"))),
                mobile=_LTR.format(mask_mobile(request.data.get("mobile"))),
                support=support,
                date=self._date(request.submitted_at),
                attachments=t.number(len(attachments)),
                status=self._status(request.status),
            )
        )
        same_id = await same_id_line(session, request, t, mask_national_id)
        if same_id:
            lines.append(same_id)
        claimed = card is not None and card.claimed_by is not None
        if claimed:
            lines.append(t("desk.card.claimed", name=card.claimed_by_name or "—"))  # type: ignore[union-attr]
        if card is not None and card.acted_by_name and card.acted_at and card.acted_status == request.status:
            lines.append(
                t(
                    "desk.card.acted",
                    status=self._status(request.status),
                    name=card.acted_by_name,
                    date=self._date(card.acted_at),
                )
            )
        rows: list[list[InlineKeyboardButton]] = []
        if not claimed:
            rows.append(
                [
                    InlineKeyboardButton(
                        t("desk.button.claim"), callback_data=self.callback_data("claim", request.id)
                    )
                ]
            )  # type: ignore[arg-type]
        rows.append(
            [
                InlineKeyboardButton(
                    t("desk.button.record"), callback_data=self.callback_data("record", request.id)
                ),  # type: ignore[arg-type]
                InlineKeyboardButton(
                    t("desk.button.files"), callback_data=self.callback_data("files", request.id)
                ),  # type: ignore[arg-type]
            ]
        )
        rows += decision_buttons(request, self.callback_data, t)
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    # -- helpers

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

    async def _remember(
        self, sent: Message | None, thread: StaffThread | None, kind: StaffMessageKind
    ) -> None:
        if sent is None or thread is None:
            return
        async with self.service.db.transaction() as session:
            await desk_repo.remember_message(
                session, self.chat_id, sent.message_id, thread.contact_id, thread.id, kind, self._now()
            )

    async def _who(self, session: AsyncSession, contact_id: int) -> str:
        """How the group names a beneficiary: a number, and the masked name of their latest request."""
        requests = await repo.requests_of(session, contact_id)
        number = str(contact_id)
        if requests and requests[0].data.get("full_name"):
            return self.t("desk.who_named", name=mask_name(requests[0].data["full_name"]), number=number)
        return self.t("desk.who", number=number)

    def _reason_title(self, reason: str) -> str:
        if reason == "human":
            return self.t("desk.thread.human")
        if reason == "unclear":
            return self.t("desk.thread.unclear")
        if reason == "unanswered":
            return self.t("desk.thread.unanswered")
        return self.t("desk.thread.message")

    def _channel_name(self, contact: Contact | None) -> str:
        channel = contact.channel if contact is not None else ""
        if channel == "telegram":
            return self.t("desk.channel.telegram")
        if channel == "whatsapp":
            return self.t("desk.channel.whatsapp")
        if channel == "web":
            return self.t("desk.channel.web")
        if channel == "console":
            return self.t("desk.channel.console")
        return channel

    def _status(self, status: str) -> str:
        key = f"status.{status}"
        return self.t(key) if self.t.has(key) else status

    def _date(self, moment: datetime) -> str:
        return self.t.date(moment.astimezone(self.zone))

    def _short_date(self, moment: datetime) -> str:
        return _LTR.format(moment.astimezone(self.zone).date().isoformat())

    def _now(self) -> datetime:
        return self.service.clock.now()


class _GroupCallbackQueryHandler(CallbackQueryHandler):
    """Button presses outside private chats: the desk's (private ones belong to TelegramChannel)."""

    def check_update(self, update: object) -> bool | object | None:
        if not isinstance(update, Update) or update.callback_query is None:
            return None
        chat = update.effective_chat
        if chat is not None and chat.type == ChatType.PRIVATE:
            return None
        return super().check_update(update)


def _message_ids(message: object) -> tuple[int, ...]:
    message_id = getattr(message, "message_id", None)
    return (message_id,) if isinstance(message_id, int) else ()


def _utf16(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _from_stored(row: StoredAttachment) -> Attachment:
    kind = AttachmentKind.PHOTO if row.kind == AttachmentKind.PHOTO else AttachmentKind.DOCUMENT
    return Attachment(kind=kind, ref=row.ref, mime=row.mime, size=row.size, name=row.name, sha256=row.sha256)
