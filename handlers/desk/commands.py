"""Staff messages and commands in the group: /pending, /find, /close, /stats, /report, /help and the decision
commands; a reply in a beneficiary's thread is relayed to them."""

from __future__ import annotations

import logging
import re

from telegram import (
    Message,
    Update,
)
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from bot.reporting import chart_png, stats_text
from flows.lifecycle import Action
from flows.lookup import find_requests, parse_national_id
from flows.privacy import mask_name
from flows.text import ascii_digits, clean
from handlers.desk.cards import LTR
from handlers.telegram_limits import SENDER_KIND
from locales import N_
from storage import desk as desk_repo

log = logging.getLogger(__name__)

DECISION_COMMANDS = ("approve", "reject", "needinfo", "registered", "delivered")  # = Action values
STAFF_COMMANDS = ("pending", "find", "close", "help", *DECISION_COMMANDS, "stats", "report")
PENDING_LIMIT = 30
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?$", re.DOTALL)
_REFERENCE_RE = re.compile(r"#?(\d{4})[-_\u2010-\u2015](\d{1,6})")


def parse_reference(text: str) -> str | None:
    """«٢٠٢٦-١٢», "2026-12" or a reference copied from a card (with its direction marks) -> "2026-00012"."""
    match = _REFERENCE_RE.fullmatch(ascii_digits(clean(text)))
    if match is None:
        return None
    return f"{match.group(1)}-{int(match.group(2)):05d}"


class CommandsMixin:
    """The staff chat's message handler and its commands (a part of StaffDesk)."""

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.chat.id != self.chat_id:
            return
        SENDER_KIND.set("desk")  # this update's task only: its sends are the desk's (bot/metrics.py)
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
                keys = [N_("desk.help"), N_("desk.help.decisions")]
                keys += [e.help_key for e in self.extensions if getattr(e, "help_key", None)]
                await self._reply(message, "\n\n".join(self.t(key) for key in keys))
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
                    "reference": LTR.format(request.reference),
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
            await self._reply(message, self.t("desk.find.not_found", reference=LTR.format(shown[:20])))
            return
        for text, markup in cards[:PENDING_LIMIT]:
            await self._reply(message, text, markup=markup)

    async def _stats(self, message: Message) -> None:
        text = await stats_text(self.service.db, self.service.clock, self.lang, tz=self.zone.key)
        await self._reply(message, text + "\n\n" + await self.queue_line())

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
