"""After a satisfaction rating: an optional comment (the poll itself lives in flows/survey.py)."""

from __future__ import annotations

from flows.events import CommentGiven
from flows.menu import menu
from flows.messages import Inbound
from flows.turn import Turn


def on_comment(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    token = state.survey_token or ""
    if choice == "survey.skip":
        turn.events.append(CommentGiven(token, None))
    elif text:
        turn.events.append(CommentGiven(token, text[:1000]))
    else:
        turn.say("survey.comment_prompt", options=(turn.option("survey.skip", "option.skip"),))
        return
    state.survey_token = None
    turn.say("survey.thanks")
    menu(turn, greet=False)
