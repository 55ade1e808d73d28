"""Every legal and illegal transition of a support request, against a table written by hand from the policy.

The policy (design.md): submitted -> under study -> (needs more information <-> resubmitted) -> approved /
rejected (with a reason) -> registered -> service delivered -> closed; the committee may decide straight from
"submitted"; staff may close at any point before "closed"; nothing leaves "closed". The table below is NOT
built from flows.lifecycle: changing either the code or this table makes a test fail.
"""

from __future__ import annotations

import pytest

from flows.lifecycle import DECISIONS, LEGAL, NEEDS_NOTE, TARGET, Action, Allowed, Refused, transition
from storage.models import RequestStatus as S

A = Action
# from status -> {action: the status it leads to}
EXPECTED: dict[S, dict[Action, S]] = {
    S.SUBMITTED: {
        A.STUDY: S.UNDER_STUDY,
        A.NEED_INFO: S.NEEDS_INFO,
        A.APPROVE: S.APPROVED,
        A.REJECT: S.REJECTED,
        A.CLOSE: S.CLOSED,
    },
    S.UNDER_STUDY: {
        A.NEED_INFO: S.NEEDS_INFO,
        A.APPROVE: S.APPROVED,
        A.REJECT: S.REJECTED,
        A.CLOSE: S.CLOSED,
    },
    S.NEEDS_INFO: {A.RESUBMIT: S.RESUBMITTED, A.CLOSE: S.CLOSED},
    S.RESUBMITTED: {
        A.STUDY: S.UNDER_STUDY,
        A.NEED_INFO: S.NEEDS_INFO,
        A.APPROVE: S.APPROVED,
        A.REJECT: S.REJECTED,
        A.CLOSE: S.CLOSED,
    },
    S.APPROVED: {A.REGISTER: S.REGISTERED, A.CLOSE: S.CLOSED},
    S.REJECTED: {A.CLOSE: S.CLOSED},
    S.REGISTERED: {A.DELIVER: S.DELIVERED, A.CLOSE: S.CLOSED},
    S.DELIVERED: {A.CLOSE: S.CLOSED},
    S.CLOSED: {},
}
EVERY_PAIR = [(status, action) for status in S for action in Action]
LEGAL_PAIRS = [(status, action) for status, moves in EXPECTED.items() for action in moves]
ILLEGAL_PAIRS = [(status, action) for status, action in EVERY_PAIR if action not in EXPECTED[status]]


def test_the_hand_written_table_covers_every_status() -> None:
    assert set(EXPECTED) == set(S)
    assert len(LEGAL_PAIRS) == 22 and len(ILLEGAL_PAIRS) == len(S) * len(Action) - 22


def test_the_code_table_is_exactly_the_policy_table() -> None:
    assert {status: set(actions) for status, actions in LEGAL.items()} == {
        status: set(moves) for status, moves in EXPECTED.items()
    }
    assert all(TARGET[action] == target for moves in EXPECTED.values() for action, target in moves.items())


@pytest.mark.parametrize("status, action", LEGAL_PAIRS)
def test_legal_transition_moves_to_the_status_the_policy_names(status: S, action: Action) -> None:
    assert transition(status.value, action, "سبب واضح") == Allowed(status, EXPECTED[status][action])


@pytest.mark.parametrize("status, action", ILLEGAL_PAIRS)
def test_illegal_transition_is_refused_with_the_current_status(status: S, action: Action) -> None:
    assert transition(status.value, action, "note") == Refused("lifecycle.illegal", status)


def test_a_closed_request_is_never_reopened() -> None:
    for action in Action:
        assert transition("closed", action, "إعادة فتح") == Refused("lifecycle.illegal", S.CLOSED)


def test_a_resubmitted_request_can_still_be_rejected_or_sent_back() -> None:
    assert transition("resubmitted", A.REJECT, "لا تنطبق الشروط") == Allowed(S.RESUBMITTED, S.REJECTED)
    assert transition("resubmitted", A.NEED_INFO, "صورة الهوية") == Allowed(S.RESUBMITTED, S.NEEDS_INFO)


def test_the_happy_path_from_submission_to_closing() -> None:
    status = S.SUBMITTED
    walked = [status]
    for action in (A.STUDY, A.NEED_INFO, A.RESUBMIT, A.APPROVE, A.REGISTER, A.DELIVER, A.CLOSE):
        result = transition(status, action, "ok")
        assert isinstance(result, Allowed), (status, action)
        status = result.to_status
        walked.append(status)
    assert walked == [
        S.SUBMITTED,
        S.UNDER_STUDY,
        S.NEEDS_INFO,
        S.RESUBMITTED,
        S.APPROVED,
        S.REGISTERED,
        S.DELIVERED,
        S.CLOSED,
    ]


@pytest.mark.parametrize("action", [A.REJECT, A.NEED_INFO])
def test_reject_and_need_info_require_a_reason(action: Action) -> None:
    assert transition("under_study", action, None) == Refused("lifecycle.note_needed", S.UNDER_STUDY)
    assert transition("under_study", action, "") == Refused("lifecycle.note_needed", S.UNDER_STUDY)
    assert transition("under_study", action, "   ") == Refused("lifecycle.note_needed", S.UNDER_STUDY)
    assert isinstance(transition("under_study", action, "x"), Allowed)


@pytest.mark.parametrize("action", [A.STUDY, A.APPROVE, A.CLOSE])
def test_other_actions_need_no_reason(action: Action) -> None:
    assert isinstance(transition("submitted", action, None), Allowed)
    assert isinstance(transition("submitted", action, ""), Allowed)


def test_an_illegal_step_is_refused_as_illegal_even_without_a_reason() -> None:
    assert transition("closed", A.REJECT, None) == Refused("lifecycle.illegal", S.CLOSED)


def test_only_reject_and_need_info_need_a_note_and_only_approve_and_reject_are_decisions() -> None:
    assert NEEDS_NOTE == {A.REJECT, A.NEED_INFO}
    assert DECISIONS == {A.APPROVE, A.REJECT}


def test_a_second_decision_is_refused() -> None:
    assert transition("approved", A.APPROVE, None) == Refused("lifecycle.illegal", S.APPROVED)
    assert transition("approved", A.REJECT, "late") == Refused("lifecycle.illegal", S.APPROVED)
    assert transition("rejected", A.APPROVE, None) == Refused("lifecycle.illegal", S.REJECTED)
