"""Button presses on request cards: checked (signature, membership), answered, and dispatched to the
action's handler: claim, the full record and the files (sent in private to the presser), and the decisions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    CallbackQuery,
    Update,
    User,
)
from telegram.ext import ContextTypes

from flows.access import accesses_line, last_accesses
from flows.engine import display_value
from flows.lifecycle import Action
from flows.messages import Attachment, AttachmentKind
from handlers.desk.cards import LTR, legal_actions
from handlers.telegram import Delivery, split_text
from handlers.telegram_limits import SENDER_KIND
from storage import desk as desk_repo
from storage import repo
from storage.models import Attachment as StoredAttachment
from storage.models import SupportRequest

log = logging.getLogger(__name__)


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


class ButtonsMixin:
    """The callback-query entry point and the card's non-decision buttons (a part of StaffDesk)."""

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        SENDER_KIND.set("desk")  # this update's task only: its sends are the desk's (bot/metrics.py)
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
        await self._refresh_card(request.id, also=message_ids(pressed))  # type: ignore[arg-type]
        return self.t("desk.claim.done", reference=request.reference), False

    async def _adopt_card(self, session: AsyncSession, request: SupportRequest, pressed: object) -> None:
        if pressed is not None and await desk_repo.card_of(session, request.id) is None:  # type: ignore[arg-type]
            # The card was posted but not recorded (a crash in between): the pressed one stands in.
            await desk_repo.save_card(session, request.id, self.chat_id, pressed.message_id, self._now())  # type: ignore[arg-type, attr-defined]

    async def _send_record(self, press: ButtonPress) -> Answer:
        request, t = press.request, self.t
        lines = [t("desk.record.title", reference=LTR.format(request.reference))]
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
        async with self.service.db.transaction() as session:  # who opened it before (flows/access.py)
            lines.append(accesses_line(await last_accesses(session, request.reference), t, self._date))
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
            caption = t("desk.file.caption", label=label, reference=LTR.format(request.reference))
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


def message_ids(message: object) -> tuple[int, ...]:
    message_id = getattr(message, "message_id", None)
    return (message_id,) if isinstance(message_id, int) else ()


def _from_stored(row: StoredAttachment) -> Attachment:
    kind = AttachmentKind.PHOTO if row.kind == AttachmentKind.PHOTO else AttachmentKind.DOCUMENT
    return Attachment(kind=kind, ref=row.ref, mime=row.mime, size=row.size, name=row.name, sha256=row.sha256)
