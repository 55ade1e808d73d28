"""One message on the per-message path (storage/hot.py): the step the service gives the raw connection.

It runs the same pure engine step as the full path, with the same context, and turns the step's events into
the few writes the raw path makes. Anything else (a submission, a handoff, a rating, a file that may no longer
be used, a notification to answer) returns None: the full path (flows/service.py) handles the message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flows import engine
from flows.engine import RequestView, State
from flows.events import ConsentGiven, DraftDiscarded, LanguageChanged
from flows.messages import Inbound, Outbound
from storage.hot import NEED_REQUESTS, HotContact, Known, NeedNotices, Outcome, Writes


class QuickTurn:
    def __init__(
        self,
        service: Any,  # flows.service.ConversationService (not imported: it imports this module)
        inbound: Inbound,
        now: datetime,
        may_answer_a_notice: Callable[[Inbound, State], bool],
    ) -> None:
        self.service = service
        self.inbound = inbound
        self.now = now
        self.may_answer_a_notice = may_answer_a_notice
        self.messages: list[Outbound] = []

    def step(self, contact: HotContact, raw: dict | None, known: Known) -> Outcome:
        service, inbound = self.service, self.inbound
        state = State.from_json(raw, contact.language)
        if raw is not None and not known.notices_checked and self.may_answer_a_notice(inbound, state):
            since = datetime.fromisoformat(state.last_at) if state.last_at else None
            return NeedNotices(state.notice_seen, since)
        if contact.created:
            requests: tuple[RequestView, ...] | None = ()
        elif known.requests is None:
            requests = None
        else:
            requests = tuple(RequestView(*row) for row in known.requests)
        ctx = service.context(self.now, requests, contact.consent_at is not None, contact.created)
        try:
            result = engine.step(state, inbound, ctx)
        except engine.NeedsRequests:
            return NEED_REQUESTS
        if service.files is not None and service._files_to_check(state, inbound, result.state):
            return None  # a file may be dropped: whether another request still uses it is the full path's
        writes = Writes(state=result.state.to_json(), reachable=contact.unreachable)
        actor = f"contact:{contact.id}"
        for event in result.events:
            if isinstance(event, ConsentGiven):
                writes.consent_at = self.now
                writes.audits.append((actor, "consent.given", actor, {}))
            elif isinstance(event, LanguageChanged):
                writes.language = event.lang
            elif isinstance(event, DraftDiscarded):
                writes.audits.append((actor, "draft.discarded", actor, {"reason": event.reason}))
            else:
                return None
        self.messages = result.messages
        return writes
