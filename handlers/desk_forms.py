"""The staff desk's side of the forms (volunteering, suggestions and complaints, any form added as a file).

    FormsDesk(desk, forms, complaints_chat_id=settings.complaints_chat_id).install()

- A new submission's card (masked personal data) is a row of the durable staff queue, written in the turn
  that stored the submission; so is each card update after a staff step (the card is edited to show the
  status, who took the step and when) and the managers' notice when a person is not satisfied
  (handlers/desk_cards_queue.py). A volunteer's card has buttons contacted / accepted / not now; «not now»
  asks for the reason (reply to the bot's question). Each notifies the volunteer in their language (the
  outbox).
- A suggestion or complaint's card has «reply» and «close»: staff write the reply (or the outcome) as a reply
  to the bot's question, or simply reply to the card; the reply reaches the person. Closing asks the person
  whether they were satisfied; «no» re-opens it and posts a notice for a manager.
- A complaint about staff conduct goes to BOT_COMPLAINTS_CHAT_ID (a managers' group) when set, never to the
  general desk; the managers work on it there. Its rows carry that chat, and a second queue worker posts them
  (handlers/desk_lane.py).
It hooks into StaffDesk through `desk.extensions` (notices, button presses and messages it does not know).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.ext import ContextTypes, MessageHandler, filters

from flows.form import FieldKind, FormDefinition
from flows.form_desk import DeskError, FormDesk, is_conduct_complaint
from flows.form_runner import display_value
from flows.privacy import mask_mobile, mask_name, mask_national_id
from handlers.desk import StaffDesk
from handlers.desk_cards_queue import FormCardsQueue
from handlers.desk_lane import ChatLane
from locales import N_
from storage.forms import FormSubmission, submission_by_id

log = logging.getLogger(__name__)

PREFIX = "f:"
ACTIONS = {"vc": "contacted", "va": "accepted", "vn": "not_now", "fr": "reply", "fc": "close"}
VOLUNTEER_BUTTONS = (
    ("vc", N_("desk.form.contacted")),
    ("va", N_("desk.form.accepted")),
    ("vn", N_("desk.form.not_now")),
)
FEEDBACK_BUTTONS = (("fr", N_("desk.form.reply")), ("fc", N_("desk.form.close")))
PROMPTS = {
    "vn": N_("desk.form.ask_reason"),
    "fr": N_("desk.form.ask_reply"),
    "fc": N_("desk.form.ask_outcome"),
}
COMMANDS = ("fbreply", "fbclose")
_REFERENCE = re.compile(r"\b([A-Z]{1,3}-\d{4}-\d{5})\b")


def mask_email(value: object) -> str:
    name, _, domain = str(value or "").partition("@")
    return f"{name[:1]}***@{domain}" if domain else "—"


def masked(form: FormDefinition, data: dict, t: Any) -> list[str]:
    """The card's lines: every answer, with names, IDs, phone numbers and e-mail addresses masked."""
    lines = []
    for form_field in form.fields:
        if form_field.name not in data:
            continue
        value = data[form_field.name]
        if form_field.validator == "full_name":
            shown = mask_name(value)
        elif form_field.validator == "saudi_national_id":
            shown = mask_national_id(value)
        elif form_field.validator == "saudi_mobile":
            shown = mask_mobile(value)
        elif form_field.kind == FieldKind.EMAIL:
            shown = mask_email(value)
        else:
            shown = display_value(form_field, value, t, form)
        label = form.text(form_field.label, t.lang) or t(form_field.label)
        lines.append(f"• {label}: {shown}")
    return lines


class FormsDesk(FormCardsQueue):
    help_key = N_("desk.help.forms")  # its lines in the desk's /help

    def __init__(
        self, desk: StaffDesk, forms: tuple[FormDefinition, ...], complaints_chat_id: int | None = None
    ) -> None:
        self.desk = desk
        self.forms = {form.name: form for form in forms}
        self.complaints_chat_id = complaints_chat_id
        self.flow = FormDesk(desk.service.db, desk.service.clock)
        self.flow.recorders.append(self._queue_update)  # a staff step and its card update commit together
        self._prompts: dict[tuple[int, int], tuple[str, str]] = {}  # (chat, message) -> (action, reference)
        self._members: dict[int, bool] = {}
        self._recorded: set[int] = set()  # notices whose rows were written in their turn's transaction
        self.lane: ChatLane | None = None  # the managers' chat's own queue worker
        if complaints_chat_id is not None and complaints_chat_id != desk.chat_id:
            self.lane = ChatLane(desk, complaints_chat_id, [self])

    def install(self) -> None:
        """Hook into the desk (after `desk.attach(channel)`)."""
        self.desk.extensions.append(self)
        if self.lane is not None and not self.desk._stopping:  # installed on a running desk
            self.lane.begin()
        if self.complaints_chat_id is not None:
            self.desk.channel.application.add_handler(
                MessageHandler(
                    filters.Chat(self.complaints_chat_id) & filters.UpdateType.MESSAGE, self._managers_message
                ),
                group=2,
            )

    @property
    def t(self) -> Any:
        return self.desk.t

    def _chat_for(self, submission: FormSubmission) -> int:
        if is_conduct_complaint(submission) and self.complaints_chat_id is not None:
            return self.complaints_chat_id
        return self.desk.chat_id

    def card(self, submission: FormSubmission) -> tuple[str, InlineKeyboardMarkup | None]:
        t = self.t
        form = self.forms.get(submission.form)
        title = (form.text(form.title, t.lang) or t(form.title)) if form is not None and form.title else ""
        lines = [t("desk.form.card", title=title or submission.form, reference=submission.reference)]
        lines.append(t("desk.form.submitted_at", date=self.desk._date(submission.submitted_at)))
        if form is not None:
            lines += masked(form, submission.data, t)
        if submission.contact_id is None:
            lines.append(t("desk.form.anonymous_card"))
        lines += self._status_lines(submission)
        buttons = VOLUNTEER_BUTTONS if submission.form == "volunteer" else ()
        if submission.form == "feedback" and submission.status == "closed":
            buttons = ()  # «not satisfied» re-opens it, and the buttons come back
        elif submission.form == "feedback" and submission.contact_id is not None:
            buttons = FEEDBACK_BUTTONS
        elif submission.form == "feedback":
            buttons = (("fc", N_("desk.form.close")),)
        markup = (
            InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(t(key), callback_data=self._data(code, submission.id))
                        for code, key in buttons
                    ]
                ]  # type: ignore[arg-type]
            )
            if buttons
            else None
        )
        return "\n".join(lines), markup

    def _data(self, code: str, submission_id: int) -> str:
        body = f"{code}:{submission_id}"
        return f"{PREFIX}{body}:{self.desk._sign(PREFIX + body)}"

    def _parse(self, data: object) -> tuple[str, int] | None:
        if not isinstance(data, str) or not data.startswith(PREFIX):
            return None
        parts = data[len(PREFIX) :].split(":")
        if len(parts) != 3 or parts[0] not in ACTIONS or not parts[1].isdigit():
            return None
        if parts[2] != self.desk._sign(f"{PREFIX}{parts[0]}:{parts[1]}"):
            return None
        return parts[0], int(parts[1])

    # -- who may act

    async def _allowed(self, chat_id: int, user: User | None, sender_chat: Any = None) -> bool:
        if sender_chat is not None:
            return sender_chat.id == chat_id
        if chat_id == self.desk.chat_id:
            return await self.desk.is_staff(user)
        if user is None or user.is_bot:
            return False
        if user.id in self.desk.admin_ids:
            return True
        _delivery, member = await self.desk.channel.call(
            lambda: self.desk.channel.bot.get_chat_member(chat_id=chat_id, user_id=user.id)
        )
        return member is not None and member.status in (
            ChatMemberStatus.OWNER,
            ChatMemberStatus.ADMINISTRATOR,
            ChatMemberStatus.MEMBER,
        )

    def _our_chat(self, chat_id: int) -> bool:
        return chat_id in (self.desk.chat_id, self.complaints_chat_id)

    # -- button presses

    async def on_callback(self, update: Update) -> bool:
        query = update.callback_query
        if query is None or not isinstance(query.data, str) or not query.data.startswith(PREFIX):
            return False
        chat_id = query.message.chat.id if query.message is not None else None
        parsed = self._parse(query.data)
        if parsed is None or chat_id is None or not self._our_chat(chat_id):
            await self.desk._answer(query, self.t("desk.refused.forged"), alert=True)
            return True
        if not await self.desk._first_time(update):
            return True
        if not await self._allowed(chat_id, query.from_user):
            await self.desk._refuse(query.from_user, "button", "not_member")
            await self.desk._answer(query, self.t("desk.refused"), alert=True)
            return True
        code, submission_id = parsed
        async with self.desk.service.db.transaction() as session:
            submission = await submission_by_id(session, submission_id)
        if submission is None:
            await self.desk._answer(query, self.t("desk.form.unknown"), alert=True)
            return True
        if code in PROMPTS:
            prompt = await self._send(
                chat_id,
                self.t(PROMPTS[code], reference=submission.reference),
                reply_markup=ForceReply(selective=True),
            )
            if prompt is not None:
                self._prompts[(chat_id, prompt.message_id)] = (code, submission.reference)
            await self.desk._answer(query, None)
            return True
        outcome = await self.flow.volunteer(
            submission.reference, ACTIONS[code], f"staff:{query.from_user.id}", name=query.from_user.full_name
        )
        await self.desk._answer(query, self.t("desk.form.done", reference=outcome.submission.reference))
        await self._show(outcome)  # the card shows the new status, who and when
        return True

    def _done_text(self, code: str, reference: str, user: User | None) -> str:
        who = user.full_name if user is not None else ""
        return self.t(
            "desk.form.recorded",
            reference=reference,
            action=self.t(dict(VOLUNTEER_BUTTONS + FEEDBACK_BUTTONS)[code]),
            who=who,
        )

    # -- messages: the answers to the bot's questions, replies to a card, /fbreply and /fbclose

    async def _managers_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        command, argument = self.desk._command_of(message.text)
        await self.on_message(update, message, command, argument)

    async def on_message(self, update: Update, message: Message, command: str | None, argument: str) -> bool:
        chat_id = message.chat.id
        if not self._our_chat(chat_id) or (message.from_user is not None and message.from_user.is_bot):
            return False
        action, reference, text = None, None, (message.text or "").strip()
        if command in COMMANDS:
            found = _REFERENCE.match(argument.upper())
            action = "fr" if command == "fbreply" else "fc"
            reference = found.group(1) if found else None
            text = argument[found.end() :].strip() if found else ""
        elif command is None and message.reply_to_message is not None:
            replied = message.reply_to_message
            if replied.from_user is None or replied.from_user.id != self.desk.channel.bot.id:
                return False
            prompt = self._prompts.get((chat_id, replied.message_id)) or self._prompt_in(replied.text or "")
            if prompt is not None:
                action, reference = prompt
            else:  # a reply to a feedback card is the reply to the person
                found = _REFERENCE.search(replied.text or "")
                if found is None or not found.group(1).startswith("F-"):
                    return False
                action, reference = "fr", found.group(1)
        else:
            return False
        if not await self.desk._first_time(update):
            return True
        if not await self._allowed(chat_id, message.from_user, message.sender_chat):
            await self.desk._refuse(message.from_user, "reply", "not_member")
            await self._send(chat_id, self.t("desk.refused"))
            return True
        if reference is None or not text:
            await self._send(chat_id, self.t("desk.form.usage"))
            return True
        actor = f"staff:{message.from_user.id}" if message.from_user is not None else "staff:anonymous"
        name = self.desk._name_of(message)
        try:
            if action == "vn":
                outcome = await self.flow.volunteer(reference, "not_now", actor, reason=text, name=name)
            elif action == "fr":
                outcome = await self.flow.reply(reference, actor, text, name=name)
            else:
                outcome = await self.flow.close(reference, actor, text, name=name)
        except DeskError as error:
            await self._send(chat_id, self.t(str(error), reference=reference))
            return True
        await self._send(chat_id, self._done_text(action, reference, message.from_user))
        await self._show(outcome)
        return True

    def _prompt_in(self, text: str) -> tuple[str, str] | None:
        """The bot's question, recognised by its text (so that a reply still works after a restart)."""
        found = _REFERENCE.search(text)
        if found is None:
            return None
        for code, key in PROMPTS.items():
            if self.t(key, reference=found.group(1)) == text:
                return code, found.group(1)
        return None

    async def _send(self, chat_id: int, text: str, **kwargs: Any) -> Message | None:
        _delivery, sent = await self.desk.channel.call(
            lambda: self.desk.channel.bot.send_message(chat_id, text[:4096], **kwargs)
        )
        return sent
