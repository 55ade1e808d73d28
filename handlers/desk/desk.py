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
- Posts to the group are rows of the durable staff queue (storage/staff_queue.py), written with the event
  that causes them and posted by one worker within the group's flood limit: cards and decisions first,
  a beneficiary's waiting messages merged into one post, their files grouped into albums, and while the
  group's window is full their new messages added to their last post by editing it; nothing is lost on a
  crash or a stop. /stats shows the backlog, and the desk says once when the oldest post has waited longer
  than ``backlog_alert``. Button presses in the group are handled beside the group's queue of updates
  (handlers/telegram_limits.py), so they are answered at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from telegram import (
    BotCommand,
    BotCommandScopeChat,
)
from telegram.error import TelegramError
from telegram.ext import MessageHandler, filters

from flows.decisions import DecisionService
from flows.form import FormDefinition
from flows.service import ConversationService
from handlers.desk.access import AccessMixin, _GroupCallbackQueryHandler
from handlers.desk.appending import AppendingMixin
from handlers.desk.buttons import ActionHandler, ButtonsMixin, StaffAction
from handlers.desk.cards import DECISION_LABELS, CardsMixin
from handlers.desk.commands import CommandsMixin
from handlers.desk.decisions import DecisionsMixin
from handlers.desk.posting import PostingMixin
from handlers.desk.relay import RelayMixin, Sender, telegram_sender
from handlers.telegram import TelegramChannel
from locales import translator
from storage import staff_queue


class StaffDesk(
    AccessMixin,
    CardsMixin,
    RelayMixin,
    ButtonsMixin,
    DecisionsMixin,
    CommandsMixin,
    AppendingMixin,
    PostingMixin,
):
    """The staff desk: wires its parts (see the module's docstring) on one Telegram bot and one staff chat."""

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
        backlog_alert: timedelta | None = timedelta(minutes=10),
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
        self.backlog_alert = backlog_alert
        # More cards, buttons and commands (handlers/desk_forms.py): on_notice / on_callback / on_message.
        self.extensions: list[Any] = []
        self._init_posting()

    @property
    def channel(self) -> TelegramChannel:
        if self._channel is None:
            raise RuntimeError("StaffDesk.attach(channel) first")
        return self._channel

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
        self.service.recorders.append(self)  # record / staff_posts (flows/service.py Recorder)
        self.service.listeners.append(self.notify)
        self.senders.setdefault("telegram", telegram_sender(channel))

    async def start(self) -> None:
        """Start posting queued notices and show the staff commands in the group's menu. Call it once
        the channel has started."""
        self._stopping = False
        await staff_queue.prune(self.service.db, self._now() - timedelta(days=7))  # posted rows, kept a week
        self._ensure_worker()
        for (
            extension
        ) in self.extensions:  # e.g. the managers' chat's own queue worker (handlers/desk_forms.py)
            if hasattr(extension, "start"):
                await extension.start()
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
            BotCommand("rights", t("desk.cmd.rights")),
            BotCommand("stats", t("desk.cmd.stats")),
            BotCommand("report", t("desk.cmd.report")),
            BotCommand("help", t("desk.cmd.help")),
        ]
        with contextlib.suppress(TelegramError):
            await self.channel.bot.set_my_commands(commands, scope=BotCommandScopeChat(self.chat_id))

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop the extensions' queue workers (another chat's posts), then this one (PostingMixin.stop)."""
        for extension in self.extensions:
            if hasattr(extension, "stop"):
                await extension.stop(timeout)
        await PostingMixin.stop(self, timeout)

    async def idle(self) -> None:
        """Wait until every due post, this chat's and the extensions' other chats', has been posted."""
        for extension in self.extensions:
            if hasattr(extension, "idle"):
                await extension.idle()
        await PostingMixin.idle(self)
