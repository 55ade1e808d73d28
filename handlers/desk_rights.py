"""The staff desk's side of «بياناتي»: rights requests (correction, erasure, withdrawal of consent).

    RightsDesk(desk, app.files).install()

- A new rights request posts a card through the durable staff queue (a ``rights`` row, written with the turn
  that made the request): reference, what is asked, the person (masked), the due date (Gregorian and Hijri);
  a correction shows the field and the value masked, «🗂» sends the value in full to the presser (audited).
- Buttons: «✅ تم» (an erasure: «✅ تأكيد الحذف», which erases at once) and «✖️ رفض» (asks the reason: reply to
  the bot's question). The person is told either way, in their language (the outbox).
- /rights lists the open requests, oldest first, with their due dates; /rights REF posts a request's card again;
  /rightsdone REF [note] and /rightsrefuse REF reason do the same as the buttons.
It hooks into StaffDesk through ``desk.extensions`` (record / on_post / on_callback / on_message).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User

from flows.my_data import OTHER_FIELD
from flows.rights import RightsOpened, kind_words, masked_value
from flows.rights_desk import RightsDesk as RightsFlow
from flows.rights_desk import RightsError
from handlers.desk import StaffDesk
from handlers.desk.posting import NotPosted
from locales import N_
from storage import repo, staff_queue
from storage.files import FileStore
from storage.models import Contact
from storage.rights import RightsKind, RightsRequest, open_rights
from storage.staff_queue import PostKind, StaffPost

PREFIX = "r:"
CODES = ("d", "x", "v")  # done (or confirm the erasure), refuse, view the correction in full
COMMANDS = ("rights", "rightsdone", "rightsrefuse")
_REFERENCE = re.compile(r"\b(P-\d{4}-\d{5})\b")
_LTR = "\u2068{}\u2069"


class RightsDesk:
    help_key = N_("desk.help.rights")  # its lines in the desk's /help

    def __init__(self, desk: StaffDesk, files: FileStore | None = None) -> None:
        self.desk = desk
        service = desk.service
        self.flow = RightsFlow(service.db, service.clock, desk.form, files or service.files)

    def install(self) -> None:
        self.desk.extensions.append(self)

    @property
    def t(self) -> Any:
        return self.desk.t

    # -- the card, through the staff queue

    async def record(self, session: AsyncSession, notice: object, now: datetime) -> bool:
        """The desk's recorder for a new rights request: its card's row, in the transaction of the turn."""
        if not isinstance(notice, RightsOpened):
            return False
        await staff_queue.enqueue(
            session, self.desk.chat_id, PostKind.RIGHTS, {"rights_id": notice.rights_id}, now
        )
        return True

    async def on_notice(self, notice: object) -> bool:
        if isinstance(notice, RightsOpened):  # not recorded in its turn (no recorder): queue it now
            async with self.desk.service.db.transaction() as session:
                await self.record(session, notice, self.desk._now())
            self.desk._wake_worker()
            return True
        return False

    async def on_post(self, poster: Any, post: StaffPost) -> bool:
        if post.kind != PostKind.RIGHTS:
            return False
        async with self.desk.service.db.transaction() as session:
            rights = await session.get(RightsRequest, post.payload.get("rights_id"))
            contact = await session.get(Contact, rights.contact_id) if rights is not None else None
            requests = await repo.requests_of(session, rights.contact_id) if rights is not None else []
        if rights is None:
            return True  # erased or gone: nothing to post
        text, markup = self.card(rights, contact, requests)
        if await self.desk._post(text, reply_markup=markup) is None:
            raise NotPosted
        return True

    def card(self, rights: RightsRequest, contact: Contact | None, requests: list) -> tuple[str, Any]:
        t, desk = self.t, self.desk
        lines = [
            t("desk.rights.card", reference=_LTR.format(rights.reference), kind=kind_words(rights.kind, t))
        ]
        name = next((r.data.get("full_name") for r in requests if (r.data or {}).get("full_name")), None)
        references = "، ".join(_LTR.format(r.reference) for r in requests) or "—"
        channel = contact.channel if contact is not None else "—"
        who = masked_value(desk.form, "full_name", name, t) if name else "—"
        lines.append(t("desk.rights.person", name=who, channel=channel, references=references))
        lines.append(
            t("desk.rights.dates", created=desk._date(rights.created_at), due=desk._date(rights.due_at))
        )
        if rights.kind == RightsKind.CORRECT:
            field = (rights.detail or {}).get("field") or OTHER_FIELD
            value = (rights.detail or {}).get("value") or ""
            shown = masked_value(desk.form, field, value, t) if field != OTHER_FIELD else value[:1] + "…"
            lines.append(t("desk.rights.field", field=self._label(field), value=shown))
        if rights.kind == RightsKind.ERASE:
            lines.append(t("desk.rights.erase_note"))
        buttons = []
        if rights.kind == RightsKind.CORRECT:
            buttons.append(("v", N_("desk.rights.view")))
        buttons.append(
            (
                "d",
                N_("desk.rights.confirm_erase")
                if rights.kind == RightsKind.ERASE
                else N_("desk.rights.done"),
            )
        )
        if rights.kind != RightsKind.WITHDRAW:  # consent is the person's to withdraw: staff only acknowledge
            buttons.append(("x", N_("desk.rights.refuse")))
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(t(key), callback_data=self._data(code, rights.id))
                    for code, key in buttons
                ]
            ]  # type: ignore[arg-type]
        )
        return "\n".join(lines), markup

    def _label(self, field: str) -> str:
        if field == OTHER_FIELD:
            return self.t("mydata.field.other")
        found = self.desk.form.field(field)
        return self.t(found.label) if found is not None else field

    def _data(self, code: str, rights_id: int) -> str:
        body = f"{code}:{rights_id}"
        return f"{PREFIX}{body}:{self.desk._sign(PREFIX + body)}"

    def _parse(self, data: object) -> tuple[str, int] | None:
        if not isinstance(data, str) or not data.startswith(PREFIX):
            return None
        parts = data[len(PREFIX) :].split(":")
        if len(parts) != 3 or parts[0] not in CODES or not parts[1].isdigit():
            return None
        if parts[2] != self.desk._sign(f"{PREFIX}{parts[0]}:{parts[1]}"):
            return None
        return parts[0], int(parts[1])

    # -- button presses

    async def on_callback(self, update: Update) -> bool:
        query = update.callback_query
        if query is None or not isinstance(query.data, str) or not query.data.startswith(PREFIX):
            return False
        desk = self.desk
        chat_id = query.message.chat.id if query.message is not None else None
        parsed = self._parse(query.data)
        if parsed is None or chat_id != desk.chat_id:
            await desk._answer(query, self.t("desk.refused.forged"), alert=True)
            return True
        if not await desk._first_time(update):
            return True
        if not await desk.is_staff(query.from_user):
            await desk._refuse(query.from_user, "button", "not_member")
            await desk._answer(query, self.t("desk.refused"), alert=True)
            return True
        code, rights_id = parsed
        async with desk.service.db.transaction() as session:
            rights = await session.get(RightsRequest, rights_id)
        if rights is None:
            await desk._answer(query, self.t("desk.rights.unknown"), alert=True)
            return True
        if code == "v":
            await desk._answer(query, await self._send_full(rights, query.from_user), alert=False)
        elif code == "x":
            await self._post(
                self.t("desk.rights.ask_reason", reference=rights.reference), ForceReply(selective=True)
            )
            await desk._answer(query, None)
        else:
            text = await self._act(rights.reference, query.from_user, done=True)
            await desk._answer(query, text[:200])
        return True

    async def _send_full(self, rights: RightsRequest, user: User) -> str:
        field = (rights.detail or {}).get("field") or OTHER_FIELD
        text = self.t(
            "desk.rights.full",
            reference=rights.reference,
            field=self._label(field),
            value=(rights.detail or {}).get("value") or "—",
        )
        _delivery, sent = await self.desk.channel.call(
            lambda: self.desk.channel.bot.send_message(user.id, text)
        )
        if sent is None:
            return self.t("desk.private.start_first")
        async with self.desk.service.db.transaction() as session:
            await repo.audit(
                session, f"staff:{user.id}", "rights.viewed", f"rights:{rights.reference}", self.desk._now()
            )
        return self.t("desk.record.sent")

    async def _act(self, reference: str, user: User | None, *, done: bool, reason: str | None = None) -> str:
        actor = f"staff:{user.id}" if user is not None else "staff:anonymous"
        try:
            answered = await self.flow.answer(reference, actor, done=done, reason=reason)
        except RightsError as error:
            text = self.t(str(error), reference=reference)
            await self._post(text)
            return text
        status = self.t("rights.status.done") if done else self.t("rights.status.refused")
        who = user.full_name if user is not None else ""
        text = self.t("desk.rights.recorded", reference=_LTR.format(reference), status=status, who=who)
        if done and answered.rights.kind == RightsKind.ERASE:
            text += "\n" + self.t("desk.rights.erased", files=self.t.number(len(answered.dropped)))
        await self._post(text)
        return text

    # -- messages: /rights, /rightsdone, /rightsrefuse, and the reason replied to the bot's question

    async def on_message(self, update: Update, message: Message, command: str | None, argument: str) -> bool:
        desk = self.desk
        if message.chat.id != desk.chat_id or (message.from_user is not None and message.from_user.is_bot):
            return False
        reason = (message.text or "").strip()
        if command in COMMANDS:
            found = _REFERENCE.search(argument.upper())
            reference = found.group(1) if found else None
            reason = argument[found.end() :].strip() if found else ""
        elif command is None and message.reply_to_message is not None:
            replied = message.reply_to_message
            if replied.from_user is None or replied.from_user.id != desk.channel.bot.id:
                return False
            found = _REFERENCE.search(replied.text or "")
            if found is None or replied.text != self.t("desk.rights.ask_reason", reference=found.group(1)):
                return False
            command, reference = "rightsrefuse", found.group(1)
        else:
            return False
        if not await desk._first_time(update):
            return True
        if not await desk._sender_allowed(message):
            await desk._refuse(message.from_user, "command", "not_member")
            await self._post(self.t("desk.refused"))
            return True
        if command == "rights":
            await (self._repost(reference) if reference else self._list())
        elif reference is None:
            await self._post(self.t("desk.rights.usage"))
        else:
            await self._act(reference, message.from_user, done=command == "rightsdone", reason=reason or None)
        return True

    async def _list(self) -> None:
        async with self.desk.service.db.transaction() as session:
            rows = await open_rights(session)
        if not rows:
            await self._post(self.t("desk.rights.none"))
            return
        t, now = self.t, self.desk._now()
        lines = [t.n("desk.rights.list", len(rows))]
        for rights in rows:
            key = N_("desk.rights.line_overdue") if rights.due_at <= now else N_("desk.rights.line")
            due = self.desk._date(rights.due_at)
            lines.append(
                t(key, reference=_LTR.format(rights.reference), kind=kind_words(rights.kind, t), due=due)
            )
        await self._post("\n".join(lines))

    async def _repost(self, reference: str) -> None:
        rights = await self.flow.get(reference)
        if rights is None:
            await self._post(self.t("desk.rights.unknown", reference=reference))
            return
        async with self.desk.service.db.transaction() as session:
            from storage import staff_queue

            await staff_queue.enqueue(
                session, self.desk.chat_id, PostKind.RIGHTS, {"rights_id": rights.id}, self.desk._now()
            )
        self.desk._wake_worker()

    async def _post(self, text: str, markup: Any = None) -> Message | None:
        return await self.desk._post(text, **({"reply_markup": markup} if markup is not None else {}))
