"""The conversation service's side for the staff desk: taking and handing back a conversation, replies in the
person's language, reachability, and reading a contact's state. Mixed into ConversationService
(flows/service.py), which provides ``db``, ``clock`` and ``settings``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flows import survey as survey_flow
from flows.engine import Mode, State
from flows.messages import ContactKey, Outbound
from locales import translator
from storage import repo
from storage.models import Contact

if TYPE_CHECKING:
    from flows.engine import FlowSettings
    from storage.db import Database


class StaffSideMixin:
    db: Database
    settings: FlowSettings
    clock: Any

    async def contact_by_id(self, contact_id: int) -> Contact | None:
        async with self.db.transaction() as session:
            return await session.get(Contact, contact_id)

    async def set_held(self, contact_id: int, held: bool, actor: str) -> None:
        """A staff member takes (or leaves) the conversation: while held, the bot only relays."""
        async with self.db.transaction() as session:
            contact = await session.get(Contact, contact_id)
            if contact is None:
                return
            await repo.lock_contact(session, contact.channel, contact.channel_user_id)
            state = State.from_json(
                await repo.load_state(session, contact_id, lock=self.db.is_postgres), contact.language
            )
            state.held = held
            await repo.save_state(session, contact_id, state.to_json(), self.clock.now())
            await repo.audit(
                session,
                actor,
                "handoff.held" if held else "handoff.released",
                f"contact:{contact_id}",
                self.clock.now(),
            )

    async def release(self, contact_id: int, actor: str) -> list[Outbound]:
        """`/close` in a staff thread: close the escalation, hand the conversation back to the bot and say so."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            contact = await session.get(Contact, contact_id)
            if contact is None:
                return []
            await repo.lock_contact(session, contact.channel, contact.channel_user_id)
            state = State.from_json(
                await repo.load_state(session, contact_id, lock=self.db.is_postgres), contact.language
            )
            state.held = False
            if state.mode == Mode.HANDOFF:
                state.mode = Mode.MENU
            await repo.save_state(session, contact_id, state.to_json(), now)
            escalation_ids = await repo.open_escalation_ids(session, contact_id)
            await repo.close_escalations(session, contact_id, now)
            await repo.audit(session, actor, "handoff.closed", f"contact:{contact_id}", now)
            if self.settings.survey_after_close and escalation_ids:
                await survey_flow.schedule_poll(
                    session,
                    subject=f"conversation:{escalation_ids[0]}",
                    kind="conversation",
                    contact=contact,
                    request_id=None,
                    reference=None,
                    now=now,
                    delay=timedelta(0),
                )
            t = translator(state.lang)
            return [Outbound(text=t("handoff.closed"), key="handoff.closed", lang=state.lang)]

    def staff_reply(self, text: str, lang: str) -> Outbound:
        t = translator(lang)
        return Outbound(text=t("handoff.staff_says", text=text), key="handoff.staff_says", lang=lang)

    async def mark_unreachable(self, key: ContactKey, unreachable: bool = True) -> None:
        """The contact blocked the bot (or unblocked it)."""
        async with self.db.transaction() as session:
            contact = await repo.find_contact(session, key.channel, key.user_id)
            if contact is None or contact.unreachable == unreachable:
                return
            contact.unreachable = unreachable
            session.add(contact)
            action = "contact.unreachable" if unreachable else "contact.reachable"
            await repo.audit(session, "system", action, f"contact:{contact.id}", self.clock.now())

    async def mark_reachable(self, key: ContactKey) -> None:
        """The contact unblocked the bot."""
        await self.mark_unreachable(key, unreachable=False)

    async def contact_state(self, key: ContactKey) -> State | None:
        async with self.db.transaction() as session:
            contact = await repo.find_contact(session, key.channel, key.user_id)
            if contact is None:
                return None
            raw = await repo.load_state(session, contact.id, lock=False)  # type: ignore[arg-type]
            return State.from_json(raw, contact.language)
