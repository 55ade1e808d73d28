"""The cards of volunteers, suggestions and complaints through the durable staff queue (a part of FormsDesk,
handlers/desk_forms.py).

- A new submission's card is a row (kind ``form_card``) written by the desk's recorder in the transaction
  that stored the submission; its chat is the staff group, or the managers' group for a complaint about
  staff conduct when BOT_COMPLAINTS_CHAT_ID is set. The row carries that chat.
- A staff step (contacted / accepted / not now, a reply, closing) writes a ``form_update`` row in the step's
  transaction (FormDesk.recorders); it is posted at once, like a request's card update, so the presser sees
  the card change, and by the worker if that is cut short. The card is edited: the status, who, when.
- The person's answer to «were you satisfied?» updates the card too; «no» also posts a notice for a manager.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from flows.form_desk import FeedbackReopened, FeedbackSatisfied, Outcome
from flows.form_submit import FormCreated
from handlers.desk.posting import NotPosted, PostingMixin
from locales import N_
from storage import staff_queue
from storage.forms import FormSubmission, submission_by_id
from storage.staff_queue import PostKind, StaffPost

if TYPE_CHECKING:
    from handlers.desk import StaffDesk
    from handlers.desk_lane import ChatLane

NOTICES = (FormCreated, FeedbackReopened, FeedbackSatisfied)
STATUS_KEYS = {  # a submission's status on its card
    "new": N_("desk.form.status.new"),
    "contacted": N_("desk.form.status.contacted"),
    "accepted": N_("desk.form.status.accepted"),
    "not_now": N_("desk.form.status.not_now"),
    "replied": N_("desk.form.status.replied"),
    "closed": N_("desk.form.status.closed"),
    "reopened": N_("desk.form.status.reopened"),
}


class FormCardsQueue:
    """Queue rows for form cards, post them, and edit the cards after staff steps."""

    desk: StaffDesk
    lane: ChatLane | None
    _recorded: set[int]

    def card(self, submission: FormSubmission) -> tuple[str, Any]:  # pragma: no cover - FormsDesk's
        raise NotImplementedError

    def _chat_for(self, submission: FormSubmission) -> int:  # pragma: no cover - FormsDesk's
        raise NotImplementedError

    # -- the lane's life follows the desk's (StaffDesk.start / stop / idle call these)

    async def start(self) -> None:
        if self.lane is not None:
            self.lane.begin()

    async def stop(self, timeout: float = 2.0) -> None:
        if self.lane is not None:
            await self.lane.stop(timeout)

    async def idle(self) -> None:
        if self.lane is not None:
            await self.lane.idle()

    # -- rows

    def _card_chat(self, submission: FormSubmission) -> int:
        return int(submission.desk_chat) if submission.desk_chat else self._chat_for(submission)

    def _poster(self, chat_id: int) -> PostingMixin:
        return self.lane if self.lane is not None and chat_id == self.lane.chat_id else self.desk  # type: ignore[return-value]

    async def record(self, session: AsyncSession, notice: object, now: datetime) -> bool:
        """The desk's recorder, for the forms' notices: their rows, in the transaction of the turn."""
        if not isinstance(notice, NOTICES):
            return False
        submission = await submission_by_id(session, notice.submission_id)
        if submission is None:
            return True
        chat = self._card_chat(submission)
        payload = {"submission_id": submission.id}
        if isinstance(notice, FormCreated):
            submission.desk_chat = str(chat)
            await staff_queue.enqueue(session, chat, PostKind.FORM_CARD, payload, now)
        else:
            if isinstance(notice, FeedbackReopened):  # for a manager: the managers' group when there is one
                text = self.desk.t("desk.form.reopened", reference=notice.reference)
                managers = self.lane.chat_id if self.lane is not None else self.desk.chat_id
                await staff_queue.enqueue(session, managers, PostKind.ALERT, {"text": text}, now)
            await staff_queue.enqueue(session, chat, PostKind.FORM_UPDATE, payload, now)
        if len(self._recorded) > 1000:  # turns that rolled back after recording: their notices never come
            self._recorded.clear()
        self._recorded.add(id(notice))
        return True

    async def on_notice(self, notice: object) -> bool:
        """After the commit: the rows are there (``record``); wake the workers."""
        if not isinstance(notice, NOTICES):
            return False
        if id(notice) in self._recorded:
            self._recorded.discard(id(notice))
        else:  # not recorded in its turn (installed since): queue it now
            async with self.desk.service.db.transaction() as session:
                await self.record(session, notice, self.desk._now())
            self._recorded.discard(id(notice))
        self._wake()
        return True

    def _wake(self) -> None:
        self.desk._wake_worker()
        if self.lane is not None:
            self.lane._wake_worker()

    async def _queue_update(self, session: AsyncSession, submission: FormSubmission) -> int | None:
        """FormDesk's recorder: the card's update, in the staff step's transaction."""
        payload = {"submission_id": submission.id}
        chat = self._card_chat(submission)
        return await staff_queue.enqueue(session, chat, PostKind.FORM_UPDATE, payload, self.desk._now())

    async def _show(self, outcome: Outcome) -> None:
        """Post the step's card update now (the presser sees the card change with the answer); if the
        group's window is full, the press is not kept waiting and the worker posts it."""
        chat = self._card_chat(outcome.submission)
        poster = self._poster(chat)
        for post_id in outcome.posts:
            post = await staff_queue.claim_post(self.desk.service.db, post_id, self.desk._now(), poster.lease)
            if post is None:
                poster._wake_worker()
                continue
            editing = asyncio.create_task(poster._post_now(post))
            poster._inline.add(editing)
            editing.add_done_callback(poster._inline.discard)
            await asyncio.wait({editing}, timeout=poster.inline_wait)

    # -- posting a row

    async def on_post(self, poster: PostingMixin, post: StaffPost) -> bool:
        if post.kind not in (PostKind.FORM_CARD, PostKind.FORM_UPDATE):
            return False
        db = self.desk.service.db
        async with db.transaction() as session:
            submission = await submission_by_id(session, int(post.payload.get("submission_id") or 0))
        if submission is None:
            return True  # deleted since (retention): nothing to show
        text, markup = self.card(submission)
        if post.kind == PostKind.FORM_CARD:
            sent = await poster._post(text, reply_markup=markup)
            if sent is None:
                raise NotPosted  # the card's row is retried
            async with db.transaction() as session:
                stored = await submission_by_id(session, submission.id)  # type: ignore[arg-type]
                if stored is not None:
                    stored.desk_chat, stored.desk_message_id = str(poster.chat_id), sent.message_id
            return True
        if submission.desk_message_id is None or submission.desk_chat != str(poster.chat_id):
            return True  # its card is not posted yet: when it is, it shows the submission as it is then
        channel = self.desk.channel
        await channel.call(
            lambda: channel.bot.edit_message_text(
                text, chat_id=poster.chat_id, message_id=submission.desk_message_id, reply_markup=markup
            )
        )
        return True

    # -- the card's status lines

    def _status_lines(self, submission: FormSubmission) -> list[str]:
        t = self.desk.t
        key = STATUS_KEYS.get(submission.status)
        status = t(key) if key is not None else submission.status
        if submission.acted_by_name and submission.acted_at is not None:
            date = self.desk._date(submission.acted_at)
            lines = [t("desk.form.acted", status=status, name=submission.acted_by_name, date=date)]
        else:
            lines = [t("desk.form.status_line", status=status)]
        if submission.status == "closed" and submission.satisfied is True:
            lines.append(t("desk.form.satisfied_yes"))
        return lines
