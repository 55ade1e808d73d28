"""What one step of the conversation works with: the contact's state, the context the service loads, and
the turn that collects what the step says (split from flows/engine.py, which keeps the journeys)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flows.events import Event
from flows.form import FormDefinition
from flows.messages import Expect, Option, Outbound
from locales import Translator, translator


class Mode(StrEnum):
    MENU = "menu"
    ASK = "ask"  # waiting for a question
    LANGUAGE = "language"
    CONSENT = "consent"
    RESUME = "resume"
    FORM = "form"
    SUMMARY = "summary"
    EDIT_PICK = "edit_pick"
    DECLARATION = "declaration"
    HANDOFF = "handoff"
    COMMENT = "comment"  # after a rating: an optional comment
    CANCEL = "cancel_confirm"  # a long draft: asked before it is deleted
    MY_DATA = "my_data"  # «بياناتي»: see, copy, correct, delete, withdraw consent
    MY_DATA_FIELD = "my_data_field"  # which field to correct
    MY_DATA_VALUE = "my_data_value"  # the correction (state.step: the field)
    MY_DATA_CONFIRM = "my_data_confirm"  # erase or withdraw, asked before (state.step: which)


FORM_MODES = frozenset({Mode.FORM, Mode.SUMMARY, Mode.EDIT_PICK, Mode.DECLARATION, Mode.CANCEL})
FREE_TEXT_MODES = frozenset(
    {Mode.HANDOFF, Mode.COMMENT, Mode.MY_DATA_VALUE}
)  # what is typed is a message, not a choice
CONFIRM_CANCEL_AFTER = 3  # answers: with more than this, cancelling asks first


@dataclass
class State:
    lang: str = "ar"
    mode: Mode = Mode.MENU
    step: str | None = None  # the form field being asked
    form: str | None = None  # the form being filled in (None: the support request)
    draft: dict = field(default_factory=dict)
    draft_started: str | None = None  # ISO time
    editing: bool = False
    resume_to: dict | None = None
    offered: list = field(default_factory=list)  # [[option id, label], ...] of the last prompt
    faq_suggestions: list = field(default_factory=list)
    last_at: str | None = None
    held: bool = False  # a staff member holds the conversation: the bot stays quiet
    missing: list = field(default_factory=list)  # fields staff asked to complete (needs more information)
    resubmits: str | None = None
    survey_token: str | None = None
    notice_seen: int = 0  # the newest outbox notification whose options were taken as the offered ones

    def to_json(self) -> dict:
        # Not dataclasses.asdict: its deep copy is most of the cost, and the dict is serialised at once.
        data = {name: getattr(self, name) for name in State.__dataclass_fields__}
        data["mode"] = self.mode.value
        return data

    @classmethod
    def from_json(cls, data: dict | None, default_lang: str = "ar") -> State:
        if not data:
            return cls(lang=default_lang)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            known["mode"] = Mode(known.get("mode", Mode.MENU))
        except ValueError:
            known["mode"] = Mode.MENU
        return cls(**known)


@dataclass(frozen=True)
class RequestView:
    reference: str
    status: str
    submitted_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class FlowSettings:
    decision_days: int = 14
    draft_expiry: timedelta = timedelta(days=7)
    resume_prompt_after: timedelta = timedelta(minutes=30)
    timezone: str = "Asia/Riyadh"
    survey_delay: timedelta = timedelta(hours=1)
    survey_after_close: bool = True
    feedback_days: int = 10  # BOT_FEEDBACK_DAYS: suggestions and complaints are answered within this
    retention_years: int = 10  # BOT_RETENTION_YEARS: a decided request's minimal record is kept this long


class NeedsRequests(Exception):
    """The step needs the contact's requests, which were not loaded: load them and run the step again."""


@dataclass(frozen=True)
class Context:
    now: datetime
    form: FormDefinition
    settings: FlowSettings = FlowSettings()
    requests: tuple[RequestView, ...] | None = ()  # None: not loaded (see NeedsRequests)
    consented: bool = False
    first_contact: bool = False
    faq: Callable[[str], Any] | None = None  # text -> flows.faq.FaqResult
    forms: tuple[FormDefinition, ...] = ()  # the other forms (volunteering, feedback, …), by their name

    def all_forms(self) -> tuple[FormDefinition, ...]:
        return (self.form, *(f for f in self.forms if f.name != self.form.name))

    def has_form(self, name: str) -> bool:
        return any(f.name == name for f in self.forms)

    def form_named(self, name: str | None) -> FormDefinition:
        """The form called `name`; the support request when the name is empty or no longer known."""
        return next((f for f in self.forms if f.name == name), self.form) if name else self.form


@dataclass
class StepResult:
    state: State
    messages: list[Outbound]
    events: list[Event]


class Turn:
    """Collects what one step says, in the contact's language."""

    def __init__(self, state: State, ctx: Context) -> None:
        self.state = state
        self.ctx = ctx
        self.messages: list[Outbound] = []
        self.events: list[Event] = []

    @property
    def t(self) -> Translator:
        return translator(self.state.lang)

    def say(
        self, key: str, *, options: tuple[Option, ...] = (), expect: Expect | None = None, **params: Any
    ) -> None:
        text = self.t(key, **params)
        self.say_text(text, key=key, options=options, expect=expect)

    def say_text(
        self,
        text: str,
        *,
        key: str = "",
        options: tuple[Option, ...] = (),
        expect: Expect | None = None,
        lang: str | None = None,
    ) -> None:
        if expect is None:
            expect = Expect.CHOICE if options else Expect.TEXT
        self.messages.append(
            Outbound(text=text, key=key, options=options, expect=expect, lang=lang or self.state.lang)
        )
        # The options of the newest message are the ones a typed number or label refers to.
        self.state.offered = [[o.id, o.label] for o in options]

    def say_n(self, key: str, count: int, *, options: tuple[Option, ...] = (), **params: Any) -> None:
        """A message with a count: the catalog's plural rule picks the form (six in Arabic)."""
        self.say_text(self.t.n(key, count, **params), key=key, options=options)

    def add_option(self, option: Option) -> None:
        """One more option on the newest message (and so among the offered ones)."""
        last = self.messages[-1]
        self.messages[-1] = replace(last, options=last.options + (option,), expect=Expect.CHOICE)
        self.state.offered.append([option.id, option.label])

    def option(self, option_id: str, key: str, **params: Any) -> Option:
        return Option(option_id, self.t(key, **params))

    def result(self) -> StepResult:
        return StepResult(self.state, self.messages, self.events)
