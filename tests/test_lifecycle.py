"""Every legal and illegal transition of a support request."""

from __future__ import annotations

import pytest

from flows.lifecycle import LEGAL, Action, Allowed, Refused, transition
from storage.models import RequestStatus as S

LEGAL_PAIRS = [(status, action) for status, actions in LEGAL.items() for action in actions]
ILLEGAL_PAIRS = [(status, action) for status in S for action in Action if action not in LEGAL[status]]


@pytest.mark.parametrize("status, action", LEGAL_PAIRS)
def test_legal_transition_moves_to_the_target_status(status, action):
    result = transition(status.value, action, "سبب واضح")
    assert isinstance(result, Allowed) and result.from_status == status


@pytest.mark.parametrize("status, action", ILLEGAL_PAIRS)
def test_illegal_transition_is_refused_with_the_current_status(status, action):
    result = transition(status.value, action, "note")
    assert result == Refused("lifecycle.illegal", status)


def test_the_happy_path_from_submission_to_closing():
    status = S.SUBMITTED
    for action in (
        Action.STUDY,
        Action.NEED_INFO,
        Action.RESUBMIT,
        Action.APPROVE,
        Action.REGISTER,
        Action.DELIVER,
        Action.CLOSE,
    ):
        result = transition(status, action, "ok")
        assert isinstance(result, Allowed), (status, action)
        status = result.to_status
    assert status == S.CLOSED


@pytest.mark.parametrize("action", [Action.REJECT, Action.NEED_INFO])
def test_reject_and_need_info_require_a_reason(action):
    assert transition("under_study", action, None) == Refused("lifecycle.note_needed", S.UNDER_STUDY)
    assert transition("under_study", action, "   ") == Refused("lifecycle.note_needed", S.UNDER_STUDY)


def test_a_second_decision_is_refused():
    assert transition("approved", Action.APPROVE, None) == Refused("lifecycle.illegal", S.APPROVED)
    assert transition("approved", Action.REJECT, "late") == Refused("lifecycle.illegal", S.APPROVED)
    assert transition("rejected", Action.APPROVE, None) == Refused("lifecycle.illegal", S.REJECTED)
