"""Talking to a person: the escalation, then what the beneficiary writes goes to the staff thread."""

from __future__ import annotations

from flows.answering import answer_suggestion
from flows.events import BeneficiaryMessage, EscalationRequested
from flows.messages import Inbound
from flows.turn import Mode, Turn


def handoff(turn: Turn, reason: str) -> None:
    turn.events.append(EscalationRequested(reason))
    turn.state.mode = Mode.HANDOFF
    options = (turn.option("menu.main", "option.menu"),)
    if reason == "unclear":
        turn.say("handoff.unclear", options=options)
    else:
        turn.say("handoff.recorded", options=options)


def on_handoff(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    """Waiting for a person: what the beneficiary writes goes to the staff thread."""
    if choice is not None and choice.startswith("faq."):
        answer_suggestion(turn, choice)
        return
    if not text and not inbound.attachments:
        turn.say("error.empty")
        return
    turn.events.append(BeneficiaryMessage(text=text, attachments=inbound.attachments))
    options = (turn.option("menu.main", "option.menu"),)
    turn.say("handoff.relayed", options=options)
