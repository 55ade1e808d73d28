"""The staff desk, by responsibility: access, cards, relay, buttons, decisions, commands, posting; StaffDesk
(desk.py) wires them. See desk.py for how it is used."""

from handlers.desk.buttons import ANSWERED, Answer, Answered, ButtonPress, StaffAction
from handlers.desk.cards import DECISION_LABELS, DECISION_ROWS, decision_buttons, legal_actions
from handlers.desk.commands import parse_reference
from handlers.desk.desk import StaffDesk
from handlers.desk.posting import StaffAlert
from handlers.desk.relay import Sender, telegram_sender

__all__ = [
    "ANSWERED",
    "DECISION_LABELS",
    "DECISION_ROWS",
    "Answer",
    "Answered",
    "ButtonPress",
    "Sender",
    "StaffAction",
    "StaffAlert",
    "StaffDesk",
    "decision_buttons",
    "legal_actions",
    "parse_reference",
    "telegram_sender",
]
