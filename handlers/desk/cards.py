"""Request cards and thread cards: the texts the staff group sees, with personal data masked, and their
buttons (claim, full record, files, and the committee's decisions legal from the request's status)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from flows.engine import display_value
from flows.lifecycle import LEGAL, Action
from flows.lookup import same_id_line
from flows.privacy import mask_mobile, mask_name, mask_national_id
from flows.service import RequestCreated
from handlers.desk.posting import NotPosted
from locales import N_, Translator, translator
from storage import desk as desk_repo
from storage import repo
from storage.models import Contact, RequestStatus, SupportRequest

log = logging.getLogger(__name__)

LTR = "\u2068{}\u2069"  # keeps digits and + in order inside Arabic text

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


class CardsMixin:
    """Builds, posts and refreshes request cards (a part of StaffDesk)."""

    async def _post_request(self, notice: RequestCreated) -> None:
        async with self.service.db.transaction() as session:
            request = await session.get(SupportRequest, notice.request_id)
            if request is None:
                return
            text, markup = await self._card(session, request)
        sent = await self._post(text, reply_markup=markup)
        if sent is None:
            raise NotPosted  # the card's row is retried
        async with self.service.db.transaction() as session:
            await desk_repo.save_card(session, request.id, self.chat_id, sent.message_id, self._now())  # type: ignore[arg-type]

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
                reference=LTR.format(request.reference),
                name=mask_name(request.data.get("full_name")),
                national_id=LTR.format(mask_national_id(request.data.get("national_id"))),
                mobile=LTR.format(mask_mobile(request.data.get("mobile"))),
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
                    reference=LTR.format(latest.reference),
                    status=self._status(latest.status),
                )
            )
        if await self._forum():
            lines.append(t("desk.thread.hint_topic"))
        else:
            lines.append(t("desk.thread.hint_reply"))
        return "\n".join(lines), who

    async def _edit_card(self, request_id: int, also: Sequence[int] = ()) -> None:
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
        return LTR.format(moment.astimezone(self.zone).date().isoformat())
