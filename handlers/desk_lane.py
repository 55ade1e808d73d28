"""The staff queue's worker for one more chat than the desk's own: the managers' group (BOT_COMPLAINTS_CHAT_ID),
where complaints about staff conduct go and never the general desk.

Rows of the durable staff queue carry their chat (storage/staff_queue.py); the desk's worker claims only the
staff group's. A lane is the same worker (PostingMixin: claim, post within that group's own flood limit,
retry with backoff, give the row in hand back on a stop) on another chat, so a complaint's card queued while
the managers' window is full is posted by the next start, like a request's card. Rows it does not know itself
(cards of forms) go to its extensions' ``on_post``; alerts are posted as text in its chat."""

from __future__ import annotations

from typing import Any

from handlers.desk import StaffDesk
from handlers.desk.posting import PostingMixin
from handlers.telegram import TelegramChannel


class ChatLane(PostingMixin):
    """Posts the staff queue's rows of ``chat_id`` on the desk's bot (started and stopped with the desk)."""

    def __init__(self, desk: StaffDesk, chat_id: int, extensions: list[Any]) -> None:
        self.desk = desk
        self.service = desk.service
        self.chat_id = chat_id
        self.t = desk.t
        self.extensions = extensions
        self.backlog_alert = None  # the managers' group is quiet: no backlog warnings of its own
        self._init_posting()

    @property
    def channel(self) -> TelegramChannel:
        return self.desk.channel

    def begin(self) -> None:
        """Start posting (the desk has started)."""
        self._stopping = False
        self._ensure_worker()

    def wake(self) -> None:
        if not self._stopping:
            self._wake_worker()
