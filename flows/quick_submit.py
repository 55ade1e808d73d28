"""The press that submits a new support request, on the raw path (storage/hot_submit.py).

The step runs the same pure engine step as the full path (flows/service.py), with the same context. When it
submits a new request and nothing else, it returns what storage needs; once the request's id and reference
are known, ``finish`` gives the rows the full path would write for it (flows/request_store.py builds the
request's values for both), the confirmation, the state after it, the staff notice and the staff queue's
rows from the service's recorders. Anything else returns None and the full path takes the message: a
resubmission, another event beside it, a file that may no longer be used, a recorder that cannot give its
rows without a read."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flows import engine
from flows.engine import State
from flows.events import RequestSubmitted
from flows.messages import Inbound, Outbound
from flows.request_store import attachment_rows, new_request, submitted_audit
from storage.files import refs_in
from storage.hot import HotContact
from storage.hot_submit import Submit, Submitted


class QuickSubmit:
    def __init__(self, service: Any, inbound: Inbound, now: datetime) -> None:
        self.service = service  # flows.service.ConversationService (not imported: it imports this module)
        self.inbound = inbound
        self.now = now
        self.messages: list[Outbound] = []
        self.notices: list[Any] = []  # the staff notices, for the listeners after the commit

    def step(self, contact: HotContact, raw: dict) -> Submit | None:
        service, inbound, now = self.service, self.inbound, self.now
        state = State.from_json(raw, contact.language)
        ctx = service.context(now, None, contact.consent_at is not None, False)
        try:
            result = engine.step(state, inbound, ctx)
        except engine.NeedsRequests:
            return None
        if len(result.events) != 1 or not isinstance(result.events[0], RequestSubmitted):
            return None
        event = result.events[0]
        if event.resubmits is not None:
            return None
        if service.files is not None:  # the request's files are its attachments now; others may be dropped
            if service._files_to_check(state, inbound, result.state) - refs_in(event.attachments):
                return None
        if not all(hasattr(recorder, "staff_posts") for recorder in service.recorders):
            return None

        def finish(request_id: int, reference: str) -> Submitted | None:
            from flows.service import RequestCreated

            due_at = now + timedelta(days=service.settings.decision_days)
            request = new_request(contact.id, inbound.contact.channel, event, now, reference, due_at)
            confirmation = engine.submitted_messages(reference, due_at, result.state.lang, ctx, False)
            after = replace(result.state, offered=engine.offered_of(confirmation))
            notice = RequestCreated(request_id, reference, False)
            posts: list[dict] = []
            for recorder in service.recorders:
                rows = recorder.staff_posts(notice, now)
                if rows is None:
                    return None
                posts += rows
            self.messages = [*result.messages, *confirmation]
            self.notices = [notice]
            return Submitted(
                request=request,
                attachments=attachment_rows(event, now),
                audits=[submitted_audit(request, event)],
                state=after.to_json(),
                posts=posts,
            )

        return Submit(finish)
