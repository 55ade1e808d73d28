"""The committee's decisions at the desk: buttons on a card, commands (/approve REF …, or as a reply to a
card) and the questions that ask for a note (reject: the reason; need info: what is missing). A question is
a row in desk_prompt, so a reply after a restart still completes the decision."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import (
    ForceReply,
    Message,
    MessageEntity,
    User,
)

from flows.decisions import DecisionOutcome
from flows.lifecycle import NEEDS_NOTE, Action, Refused, transition
from handlers.desk.buttons import ANSWERED, Answer, ButtonPress, message_ids
from handlers.desk.cards import LTR
from handlers.desk.commands import parse_reference
from locales import N_
from storage import desk as desk_repo
from storage import repo
from storage.desk import DeskPrompt
from storage.models import SupportRequest

log = logging.getLogger(__name__)

_MENTION = "\x00"  # where the presser's name goes in a question, so its entity offset can be found
PROMPT_KEYS = {Action.REJECT: N_("desk.prompt.reject"), Action.NEED_INFO: N_("desk.prompt.needinfo")}


class DecisionsMixin:
    """Decision buttons, decision commands and note prompts (a part of StaffDesk)."""

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
            await self._show_decision(request.id, outcome, press.user.full_name, message_ids(pressed))  # type: ignore[arg-type]
        else:
            await self._refresh_pressed(request.id, pressed)  # type: ignore[arg-type]
        return ANSWERED

    async def _decision_command(self, message: Message, action: Action, argument: str, actor: str) -> None:
        t = self.t
        request, note = await self._request_and_note(message, argument)
        if request is None:
            if note is not None:  # a reference that matches no request
                await self._reply(message, t("decision.not_found", reference=LTR.format(note[:20])))
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
        text = t(PROMPT_KEYS[action], name=_MENTION, reference=LTR.format(request.reference), fields=fields)
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

    def _name_of(self, message: Message) -> str:
        if message.sender_chat is None and message.from_user is not None:
            return message.from_user.full_name
        return self.t("desk.actor.anonymous")


def _utf16(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
