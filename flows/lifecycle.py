"""The support request's life after submission, as a table of legal transitions (a pure function)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from locales import N_
from storage.models import RequestStatus as S


class Action(StrEnum):
    STUDY = "study"  # a staff member claims the request: it is under study
    NEED_INFO = "needinfo"
    RESUBMIT = "resubmit"  # the applicant completed what was missing
    APPROVE = "approve"
    REJECT = "reject"
    REGISTER = "registered"
    DELIVER = "delivered"
    CLOSE = "close"


TARGET = {
    Action.STUDY: S.UNDER_STUDY,
    Action.NEED_INFO: S.NEEDS_INFO,
    Action.RESUBMIT: S.RESUBMITTED,
    Action.APPROVE: S.APPROVED,
    Action.REJECT: S.REJECTED,
    Action.REGISTER: S.REGISTERED,
    Action.DELIVER: S.DELIVERED,
    Action.CLOSE: S.CLOSED,
}

# submitted -> under study -> (needs more information <-> resubmitted) -> approved / rejected (with reason)
#   -> registered -> service delivered -> closed. The committee may decide straight from "submitted".
LEGAL: dict[S, frozenset[Action]] = {
    S.SUBMITTED: frozenset({Action.STUDY, Action.NEED_INFO, Action.APPROVE, Action.REJECT, Action.CLOSE}),
    S.UNDER_STUDY: frozenset({Action.NEED_INFO, Action.APPROVE, Action.REJECT, Action.CLOSE}),
    S.NEEDS_INFO: frozenset({Action.RESUBMIT, Action.CLOSE}),
    S.RESUBMITTED: frozenset({Action.STUDY, Action.NEED_INFO, Action.APPROVE, Action.REJECT, Action.CLOSE}),
    S.APPROVED: frozenset({Action.REGISTER, Action.CLOSE}),
    S.REJECTED: frozenset({Action.CLOSE}),
    S.REGISTERED: frozenset({Action.DELIVER, Action.CLOSE}),
    S.DELIVERED: frozenset({Action.CLOSE}),
    S.CLOSED: frozenset(),
}
NEEDS_NOTE = frozenset({Action.REJECT, Action.NEED_INFO})
DECISIONS = frozenset({Action.APPROVE, Action.REJECT})


@dataclass(frozen=True)
class Allowed:
    from_status: S
    to_status: S


@dataclass(frozen=True)
class Refused:
    reason_key: str  # a message key
    from_status: S


def transition(current: str, action: Action, note: str | None) -> Allowed | Refused:
    status = S(current)
    if action not in LEGAL[status]:
        return Refused(N_("lifecycle.illegal"), status)
    if action in NEEDS_NOTE and not (note and note.strip()):
        return Refused(N_("lifecycle.note_needed"), status)
    return Allowed(status, TARGET[action])
