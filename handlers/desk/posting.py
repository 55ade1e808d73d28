"""Posting to the staff group through the durable staff queue (storage/staff_queue.py).

Every post (a request's card, a decision shown on its card, a beneficiary's relayed messages, an escalation,
a low rating, an alert) is a row written in the transaction of the event that caused it (``record``, a
recorder of the service) or, for notices from elsewhere, in its own (``notify``, ``post_alert``). One worker
waits until the group's window (FloodLimiter: 20 posts a minute, and as many edits) has room, then claims the
most urgent row, posts it and marks it, so a card queued behind chatter still goes first;
a failure is retried with backoff; a stop gives the row in hand back, so what was not posted is posted by the
next start. Memory holds one row at a time, whatever the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, ReplyParameters

from flows.messages import Attachment, AttachmentKind
from flows.service import EscalationOpened, RelayedMessage, RequestCreated, StaffNotice
from flows.survey import LowRating
from handlers.telegram import FloodLimiter, split_text
from handlers.telegram_limits import SENDER_KIND
from storage import staff_queue
from storage.staff_queue import PostKind, StaffPost

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffAlert:
    """A text for the staff group from elsewhere (the outbox's alerts, the daily digest)."""

    text: str


class NotPosted(Exception):
    """Telegram did not take a post that must not be lost (a card, a relayed message): the row is retried."""


# The notices the queue knows how to post; others belong to an extension.
DESK_NOTICES = (RequestCreated, EscalationOpened, RelayedMessage, LowRating, StaffAlert)


def notice_row(notice: StaffNotice | StaffAlert) -> tuple[PostKind, dict, int | None, int | None]:
    """(kind, payload, contact id, request id) of the queue row standing for a notice."""
    if isinstance(notice, RequestCreated):
        return PostKind.CARD, {"request_id": notice.request_id}, None, notice.request_id
    if isinstance(notice, EscalationOpened):
        payload = {"reason": notice.reason, "escalation_id": notice.escalation_id}
        return PostKind.ESCALATION, payload, notice.contact_id, None
    if isinstance(notice, RelayedMessage):
        texts = [notice.text] if notice.text else []
        files = [asdict(a) if isinstance(a, Attachment) else {"ref": ""} for a in notice.attachments]
        return PostKind.RELAY, {"texts": texts, "attachments": files}, notice.contact_id, None
    if isinstance(notice, LowRating):
        payload = {
            "survey_id": notice.survey_id,
            "reference": notice.reference,
            "rating": notice.rating,
            "comment": notice.comment,
        }
        return PostKind.LOW_RATING, payload, notice.contact_id, None
    return PostKind.ALERT, {"text": notice.text}, None, None


def _attachment(data: dict) -> Attachment | None:
    if not data.get("ref") or data.get("kind") not in set(AttachmentKind):
        return None
    return Attachment(
        kind=AttachmentKind(data["kind"]),
        ref=data["ref"],
        mime=data.get("mime") or "application/octet-stream",
        size=int(data.get("size") or 0),
        name=data.get("name"),
        sha256=data.get("sha256"),
    )


class PostingMixin:
    """The staff queue's worker: claims, posts and marks rows, one at a time (a part of StaffDesk)."""

    max_attempts = 5
    lease = timedelta(seconds=120)
    poll_seconds = 2.0  # also picks up rows another process queued
    backoff_base = 5.0
    backoff_cap = 300.0
    inline_wait = 3.0  # how long a button press waits for its card's update before it is answered

    # -- writing rows

    def _init_posting(self) -> None:
        """The queue worker's own state, the same for the desk and for a lane on another chat."""
        self.posted = 0  # posts made since start, and notices merged into them (for benchmarks)
        self.merged = 0
        self.appended = 0  # of them, added to an earlier post by editing it (handlers/desk/appending.py)
        self.waiting_for_window = False  # due posts wait for the group's window (tests, benchmarks)
        self._recorded: dict[int, Any] = {}  # notices recorded in their turn's transaction
        self._worker: asyncio.Task[None] | None = None
        self._inline: set[asyncio.Task[None]] = set()  # card updates going on after their press was answered
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._watching = asyncio.Lock()  # one backlog check at a time: the warning is said once
        self._current: StaffPost | None = None
        self._stopping = True  # until start(): notices wait in the database

    async def record(self, session: AsyncSession, notice: StaffNotice, now: datetime) -> None:
        """The service's recorder: the notice's row, in the transaction of the turn that caused it."""
        if not isinstance(notice, DESK_NOTICES):  # an extension's notice (handlers/desk_forms.py)
            for extension in self.extensions:
                record = getattr(extension, "record", None)
                if record is not None and await record(session, notice, now):
                    return
            return
        kind, payload, contact_id, request_id = notice_row(notice)
        await staff_queue.enqueue(
            session, self.chat_id, kind, payload, now, contact_id=contact_id, request_id=request_id
        )
        self._mark_recorded(notice)

    def staff_posts(self, notice: StaffNotice, now: datetime) -> list[dict[str, Any]] | None:
        """What ``record`` would write, as staff_post rows, for a turn on the raw path (a new request's card,
        storage/hot_submit.py); None when only ``record`` can tell (a row that may join a waiting one needs
        a read; an extension's notice)."""
        if not isinstance(notice, DESK_NOTICES):
            return None
        kind, payload, contact_id, request_id = notice_row(notice)
        if kind in staff_queue.JOINING_KINDS:
            return None
        self._mark_recorded(notice)
        return [
            staff_queue.post_values(
                self.chat_id, kind, payload, now, contact_id=contact_id, request_id=request_id
            )
        ]

    def _mark_recorded(self, notice: StaffNotice) -> None:
        """Its row is written in the turn's transaction: ``notify`` only wakes the worker."""
        if len(self._recorded) > 1000:  # turns that rolled back after recording: their notices never come
            self._recorded.clear()
        self._recorded[id(notice)] = notice

    async def notify(self, notice: StaffNotice) -> None:
        """The service's listener, after the commit: the row is already there (``record``); a notice from
        elsewhere is queued now. Returns at once: a beneficiary's reply never waits for the group's limit."""
        if not isinstance(notice, DESK_NOTICES) and self._recorded.pop(id(notice), None) is not None:
            self._wake_worker()  # an extension's queued card (handlers/desk_rights.py)
            return
        if not isinstance(notice, DESK_NOTICES):
            for extension in self.extensions:  # e.g. volunteer and feedback cards (handlers/desk_forms.py)
                if await extension.on_notice(notice):
                    return
            return
        if self._recorded.pop(id(notice), None) is None:
            await self._enqueue(notice)
        self._wake_worker()

    async def post_alert(self, text: str) -> None:
        """Post a text in the staff group (the outbox's alerts, the daily digest): queued with the notices,
        so it waits for the group's flood limit instead of being dropped. Returns once it is queued."""
        await self._enqueue(StaffAlert(text))
        self._wake_worker()

    async def _enqueue(self, notice: StaffNotice | StaffAlert, **extra: Any) -> None:
        kind, payload, contact_id, request_id = notice_row(notice)
        async with self.service.db.transaction() as session:
            await staff_queue.enqueue(
                session, self.chat_id, kind, {**payload, **extra}, self._now(), contact_id=contact_id,
                request_id=request_id,
            )  # fmt: skip

    async def _refresh_card(self, request_id: int, also: tuple[int, ...] | list[int] = ()) -> None:
        """Show a decision or a claim on the card: the update is a row (urgent, like the cards; waiting
        updates of one card are merged), posted here at once so the presser sees it with the answer; if
        this is cut short, or the worker has the row, the worker posts it. When the group's window is full
        the press is not kept waiting: after ``inline_wait`` seconds the edit goes on without it."""
        db = self.service.db
        async with db.transaction() as session:
            payload = {"request_id": request_id, "also": list(also)}
            post_id = await staff_queue.enqueue(
                session, self.chat_id, PostKind.CARD_UPDATE, payload, self._now(), request_id=request_id
            )
        if self._stopping:
            return  # stopping (or not started): the row waits for the next start
        post = await staff_queue.claim_post(db, post_id, self._now(), self.lease)
        if post is None:
            self._wake_worker()
            return
        if self._stopping:  # stop() began meanwhile and will not wait for a task started now
            await staff_queue.release(db, post, self._now(), post.last_error, post.attempts)
            return
        editing = asyncio.create_task(self._post_now(post))
        self._inline.add(editing)
        editing.add_done_callback(self._inline.discard)
        await asyncio.wait({editing}, timeout=self.inline_wait)

    async def _post_now(self, post: StaffPost) -> None:
        SENDER_KIND.set("desk")
        try:
            await self._send_post(post)
        except asyncio.CancelledError:
            await staff_queue.release(self.service.db, post, self._now(), post.last_error, post.attempts)
            raise
        except Exception as exc:
            await self._failed(post, exc)
            self._wake_worker()
        else:
            await staff_queue.mark_sent(self.service.db, post, self._now())

    # -- the worker

    def _wake_worker(self) -> None:
        self._wake.set()
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        if self._stopping:
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="staff-desk")

    async def stop(self, timeout: float = 2.0) -> None:
        """Finish the post in hand (waiting at most ``timeout`` seconds), then stop. Whatever waits stays in
        the database and is posted by the next start; a post cut short is given back to the queue."""
        self._stopping = True
        self._wake.set()
        working = {task for task in (self._worker, *self._inline) if task is not None}
        if not working:
            return
        _, cut_short = await asyncio.wait(working, timeout=timeout)
        for task in cut_short:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._worker = None
        count, _ = await staff_queue.backlog(self.service.db, self.chat_id)
        if count:
            log.info("%d staff posts wait in the database for the next start", count)

    async def idle(self) -> None:
        """Wait until every post that is due has been posted (or given up). Before start(), at once."""
        self._ensure_worker()
        if self._inline:
            await asyncio.wait(set(self._inline))
        while self._worker is not None:
            self._progress.clear()
            upcoming = await staff_queue.next_due(self.service.db, self.chat_id)
            if self._current is None and (upcoming is None or upcoming > self._now()):
                return
            self._wake.set()
            await self._progress.wait()

    async def _work(self) -> None:
        """Take the most urgent due row when the group's window has room for it, post it, mark it. A row is
        taken only when it can go out (not held while the window is full), so a card queued after chatter
        still goes first when the window opens. While the posting window is full, a person's waiting
        messages may be added to their last post by editing it (handlers/desk/appending.py)."""
        SENDER_KIND.set("desk")  # this task's own context: its 429s are the desk's (bot/metrics.py)
        db = self.service.db
        while not self._stopping:
            self._wake.clear()
            await self._watch_backlog()
            post_wait, edit_wait = self._window_waits()
            if post_wait > 0 and edit_wait <= 0 and await self._append_waiting():
                self._progress.set()
                continue
            posts: list[StaffPost] = []
            if post_wait <= 0 or edit_wait <= 0:  # only what can go out now: posts, edits, or both
                edits = None if post_wait <= 0 and edit_wait <= 0 else edit_wait <= 0
                posts = await staff_queue.claim(db, self.chat_id, self._now(), self.lease, edits=edits)
            if not posts:
                await self._wait_for_work(max(post_wait, edit_wait))
                continue
            self.waiting_for_window = False
            post = self._current = posts[0]
            try:
                await self._send_post(post)
            except asyncio.CancelledError:
                await staff_queue.release(db, post, self._now(), post.last_error, post.attempts)
                raise
            except Exception as exc:  # one bad post must not stop the desk: it is retried, then given up
                await self._failed(post, exc)
            else:
                await staff_queue.mark_sent(db, post, self._now())
                self.posted += 1
                self.merged += post.merged - 1
            finally:
                self._current = None
                self._progress.set()

    async def _append_waiting(self) -> bool:
        """Add a waiting line to an earlier post by editing it; the desk can (AppendingMixin), a lane cannot."""
        return False

    def _window_waits(self) -> tuple[float, float]:
        """Seconds until the group's window has room for a post, and for an edit (0: now)."""
        limiter = self.channel.bot.rate_limiter
        if not isinstance(limiter, FloodLimiter):
            return 0.0, 0.0
        return limiter.seconds_until_room(self.chat_id), limiter.seconds_until_room(self.chat_id, edit=True)

    async def _wait_for_work(self, window_wait: float) -> None:
        """Nothing was taken: sleep until a row falls due, the window opens, or a row is queued (woken)."""
        upcoming = await staff_queue.next_due(self.service.db, self.chat_id)
        now = self._now()
        delay = self.poll_seconds
        if upcoming is None or upcoming > now:
            self.waiting_for_window = False
            self._progress.set()  # nothing due: idle() may return
            if upcoming is not None:
                delay = min(delay, (upcoming - now).total_seconds())
        else:  # due rows wait for the window (or another worker holds them)
            self.waiting_for_window = window_wait > 0
            delay = min(delay, max(window_wait, 0.05))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(delay, 0.01))

    async def _failed(self, post: StaffPost, exc: Exception) -> None:
        error = type(exc).__name__
        attempts = post.attempts + 1
        if attempts >= self.max_attempts:
            log.error(
                "a staff post (%s, row %s) was given up after %d attempts (%s)",
                post.kind,
                post.id,
                attempts,
                error,
            )
            await staff_queue.mark_dead(self.service.db, post, error)
            return
        if not isinstance(exc, NotPosted):
            log.exception("posting a staff notice failed (%s)", error)
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        await staff_queue.release(
            self.service.db, post, self._now() + timedelta(seconds=delay), error, attempts
        )

    async def _send_post(self, post: StaffPost) -> None:
        payload, kind = post.payload, post.kind
        if kind == PostKind.CARD:
            await self._post_request(RequestCreated(payload["request_id"], "", False))
        elif kind == PostKind.CARD_UPDATE:
            await self._edit_card(payload["request_id"], also=tuple(payload.get("also", ())))
        elif kind == PostKind.ESCALATION:
            await self._escalated(
                EscalationOpened(payload.get("escalation_id", 0), post.contact_id, payload["reason"])
            )  # type: ignore[arg-type]
        elif kind == PostKind.RELAY:
            attachments = [_attachment(data) for data in payload.get("attachments", [])]
            await self._relay_to_staff(post.contact_id, payload.get("texts", []), attachments)  # type: ignore[arg-type]
        elif kind == PostKind.LOW_RATING:
            await self._low_rating(
                LowRating(
                    payload.get("survey_id", 0),
                    post.contact_id,  # type: ignore[arg-type]
                    payload.get("reference"),
                    payload["rating"],
                    payload.get("comment"),
                )
            )
        elif kind in (PostKind.ALERT, PostKind.WARNING):
            if await self._post(payload["text"]) is None:
                raise NotPosted
        else:  # an extension's row (handlers/desk_forms.py: volunteer and feedback cards)
            for extension in self.extensions:
                on_post = getattr(extension, "on_post", None)
                if on_post is not None and await on_post(self, post):
                    return
            raise NotPosted  # nobody knows it (yet): retried, then given up

    async def _watch_backlog(self) -> None:
        """Say once in the group when the oldest waiting post has waited longer than the alert threshold
        (once per backlog, across restarts: not again while a post older than the warning waits)."""
        if self.backlog_alert is None:
            return
        async with self._watching:  # one check at a time (the worker's, a test's): each sees the last warning
            await self._check_backlog()

    async def _check_backlog(self) -> None:
        db = self.service.db
        count, oldest = await staff_queue.backlog(db, self.chat_id)
        if not count or oldest is None or self._now() - oldest <= self.backlog_alert:
            return
        if not await staff_queue.warned_since(db, self.chat_id, oldest):
            minutes = int(self.backlog_alert.total_seconds() // 60)
            text = self.t("desk.queue.backlog", count=self.t.number(count), minutes=self.t.number(minutes))
            async with self.service.db.transaction() as session:
                await staff_queue.enqueue(
                    session, self.chat_id, PostKind.WARNING, {"text": text}, self._now()
                )

    async def queue_line(self) -> str:
        """/stats: how many posts wait for the group, and since when the oldest."""
        count, oldest = await staff_queue.backlog(self.service.db, self.chat_id)
        if not count or oldest is None:
            return self.t("desk.queue.empty")
        minutes = max(0, int((self._now() - oldest).total_seconds() // 60))
        return self.t("desk.queue.stats", count=self.t.number(count), minutes=self.t.number(minutes))

    # -- one post

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

    def _now(self) -> datetime:
        return self.service.clock.now()
