"""The conversation engine: one pure step per inbound message.

step(state, inbound, ctx) -> StepResult(state, messages, events). It reads nothing and sends nothing: the
service loads the context, applies the events and stores the new state; channels render the messages.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any

from flows.choices import OPTION_KEYS, Match, chosen_number, label_command, match_option, worth_recording
from flows.events import (
    BeneficiaryMessage,
    CommentGiven,
    ConsentGiven,
    DraftDiscarded,
    EscalationRequested,
    LanguageChanged,
    QuestionUnanswered,
    RatingGiven,
    RequestSubmitted,
)
from flows.form import FieldKind, FormDefinition, FormField
from flows.messages import Expect, Inbound, Option, Outbound
from flows.survey_text import RATING_WORDS, parse_rating
from flows.text import MAX_TEXT_LENGTH, clean, fold
from flows.turn import (  # noqa: F401  (re-exported: the service, the desk and the tests import them here)
    CONFIRM_CANCEL_AFTER,
    FORM_MODES,
    FREE_TEXT_MODES,
    Context,
    FlowSettings,
    Mode,
    NeedsRequests,
    RequestView,
    State,
    StepResult,
)
from flows.turn import Turn as _Turn
from flows.validators import VALIDATORS, Invalid
from locales import N_, Translator, translator

OPEN_STATUSES = frozenset({"submitted", "under_study", "needs_info", "resubmitted", "approved", "registered"})
AWAITING_DECISION = frozenset({"submitted", "under_study", "resubmitted"})

MENU_ITEMS = (
    ("menu.ask", N_("menu.option.ask")),
    ("menu.apply", N_("menu.option.apply")),
    ("menu.status", N_("menu.option.status")),
    ("menu.volunteer", N_("menu.option.volunteer")),
    ("menu.feedback", N_("menu.option.feedback")),
    ("menu.human", N_("menu.option.human")),
    ("menu.language", N_("menu.option.language")),
)
STATUS_WORDS = {
    "submitted": N_("status.submitted"),
    "under_study": N_("status.under_study"),
    "needs_info": N_("status.needs_info"),
    "resubmitted": N_("status.resubmitted"),
    "approved": N_("status.approved"),
    "rejected": N_("status.rejected"),
    "registered": N_("status.registered"),
    "delivered": N_("status.delivered"),
    "closed": N_("status.closed"),
}


def status_words(status: str, t: Translator) -> str:
    return t(STATUS_WORDS[status]) if status in STATUS_WORDS else status


# Option ids that stay valid after their message has scrolled away (navigation buttons).
NAVIGATION = frozenset({item[0] for item in MENU_ITEMS} | {"menu.main", "menu.unclear", "lang.ar", "lang.en"})

COMMANDS = {
    "start": {"/start", "start", "ابدا", "البدايه"},
    "menu.main": {"/menu", "menu", "القائمه", "قائمه", "القائمه الرئيسيه"},
    "help": {"/help", "help", "مساعده", "المساعده", "ساعدني"},
    "cancel": {"/cancel", "cancel", "الغاء", "الغا", "إلغاء"},
    "menu.language": {"/language", "language", "اللغه", "لغه", "تغيير اللغه"},
    "lang.en": {"english", "انجليزي", "الانجليزيه"},
    "lang.ar": {"arabic", "عربي", "العربيه"},
    "menu.human": {"/human", "human", "agent", "موظف", "كلم موظف", "التحدث مع موظف", "ابي موظف", "اريد موظف"},
}
_COMMAND_OF = {fold(word): command for command, words in COMMANDS.items() for word in words}


def step(state: State, inbound: Inbound, ctx: Context) -> StepResult:
    """Handle one inbound message. Never raises on bad input: every path ends in a clear reply."""
    previous_at = state.last_at
    state = replace(state, offered=list(state.offered), draft=dict(state.draft), last_at=ctx.now.isoformat())
    turn = _Turn(state, ctx)
    text = clean(inbound.text)

    if len(inbound.text or "") > MAX_TEXT_LENGTH:
        turn.say_text(turn.t.n("error.message_too_long", MAX_TEXT_LENGTH), key="error.message_too_long")
        _reprompt(turn)
        return turn.result()

    if _draft_expired(state, ctx):
        state.draft, state.draft_started, state.step, state.editing = {}, None, None, False
        turn.events.append(DraftDiscarded("expired"))
        if state.mode in FORM_MODES or state.mode == Mode.RESUME:
            state.mode = Mode.MENU
            hours = int(ctx.settings.draft_expiry.total_seconds() // 3600)
            turn.say_text(turn.t.n("form.expired", hours), key="form.expired")
            _menu(turn, greet=False)
            return turn.result()

    if inbound.option and inbound.option.startswith("rate."):
        rating = parse_rating(inbound.option)
        if rating is not None:
            # Polls arrive through the outbox, not as a reply to a step: the service checks the button.
            turn.events.append(RatingGiven(*rating))
            return turn.result()

    match = _resolve_choice(state, inbound, text, ctx)
    choice = match.option_id if match else None
    if choice is not None and choice.startswith("rate.") and not inbound.option:
        rating = parse_rating(choice)  # a poll's rating typed as its number or its words
        if rating is not None:
            turn.events.append(RatingGiven(*rating))
            return _confirmed(turn, match)
    command = (
        choice
        if choice in NAVIGATION
        else (_COMMAND_OF.get(fold(text)) or label_command(text, _navigation_labels()))
        if text and not inbound.option and choice is None
        else None
    )
    if command is None and choice is None and inbound.option:
        turn.say("error.unknown_option")
        _reprompt(turn)
        return turn.result()

    if state.held and command is None:
        # A person is answering: the bot relays and stays quiet.
        turn.events.append(BeneficiaryMessage(text=text, attachments=inbound.attachments))
        return turn.result()

    if command is not None:
        _command(turn, command, text)
        return _confirmed(turn, match)

    if ctx.first_contact and state.mode == Mode.MENU and not state.draft:
        _menu(turn, greet=True)
        return turn.result()

    if (
        state.mode in FORM_MODES
        and state.mode != Mode.CANCEL
        and _came_back_after_a_while(previous_at, ctx)
        and choice is None
    ):
        state.resume_to = {"mode": state.mode.value, "step": state.step, "editing": state.editing}
        state.mode = Mode.RESUME
        _ask_resume(turn)
        return turn.result()

    handler = _HANDLERS[state.mode]
    handler(turn, inbound, text, choice)
    return _confirmed(turn, match)


def _confirmed(turn: _Turn, match: Match | None) -> StepResult:
    """A choice understood from part of its words or a near spelling is named in the reply («اخترت: …»)."""
    if match is not None and not match.exact:
        lang = turn.messages[0].lang if turn.messages else turn.state.lang
        t = translator(lang)
        said = t("choice.understood", label=match.label)
        if turn.messages:
            first = turn.messages[0]
            turn.messages[0] = replace(first, text=f"{said}\n{first.text}")
        else:  # a rating: the service adds its thanks after this
            turn.messages.append(Outbound(said, key="choice.understood", lang=lang))
    return turn.result()


# ---------------------------------------------------------------- choices and commands


def _resolve_choice(state: State, inbound: Inbound, text: str, ctx: Context) -> Match | None:
    if inbound.option is not None:
        offered = [entry[0] for entry in state.offered]
        known = inbound.option in offered or inbound.option in NAVIGATION
        return Match(inbound.option, "", exact=True) if known else None
    if not text or not state.offered:
        return None
    form_field = ctx.form.field(state.step or "") if state.mode == Mode.FORM else None
    # A number typed for a number or text field is the answer, unless a list of suggestions is showing.
    free_answer = form_field is not None and form_field.kind != FieldKind.CHOICE
    suggestions = any(entry[0].startswith("faq.") for entry in state.offered)
    return match_option(
        text,
        state.offered,
        numbers=not free_answer or suggestions,
        loose=not free_answer and state.mode not in FREE_TEXT_MODES,
    )


def _navigation_labels() -> tuple[tuple[str, str], ...]:
    """The labels of the menu's entries in both languages: typed anywhere, they act like the button."""
    return _labels_of(tuple(MENU_ITEMS) + (("menu.main", "option.menu"),))


def _labels_of(items: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((option_id, translator(lang)(key)) for option_id, key in items for lang in ("ar", "en"))


def offered_of(messages: list[Outbound]) -> list[list[str]]:
    """The options of the newest message: what a typed number or label refers to next."""
    return [[o.id, o.label] for o in messages[-1].options] if messages else []


def _command(turn: _Turn, command: str, text: str) -> None:
    state = turn.state
    if command == "start" and state.draft:
        _greet_returning(turn)
    elif command in ("start", "menu.main"):
        state.mode = Mode.MENU
        _menu(turn, greet=command == "start")
    elif command == "help":
        state.mode = Mode.MENU
        options = (
            turn.option("menu.main", "option.menu"),
            turn.option("menu.unclear", "option.unclear"),
            turn.option("menu.human", "menu.option.human"),
        )
        turn.say("help.text", options=options)
    elif command == "cancel":
        if state.draft or state.mode in FORM_MODES or state.mode in (Mode.RESUME, Mode.CONSENT):
            _cancel_draft(turn)
        else:
            turn.say("cancel.nothing")
            _menu(turn, greet=False)
    elif command == "menu.language":
        state.mode = Mode.LANGUAGE
        options = (Option("lang.ar", "العربية"), Option("lang.en", "English"))
        turn.say("language.choose", options=options)
    elif command in ("lang.ar", "lang.en"):
        _set_language(turn, command.split(".")[1])
    elif command == "menu.human":
        _handoff(turn, "human")
    elif command == "menu.unclear":
        _handoff(turn, "unclear")
    elif command == "menu.ask":
        state.mode = Mode.ASK
        options = (turn.option("menu.main", "option.menu"),)
        turn.say("faq.ask_prompt", options=options)
    elif command == "menu.apply":
        _start_application(turn)
    elif command == "menu.status":
        state.mode = Mode.MENU
        _status(turn)
    elif command in ("menu.volunteer", "menu.feedback"):
        state.mode = Mode.MENU
        options = (turn.option("menu.human", "menu.option.human"), turn.option("menu.main", "option.menu"))
        if command == "menu.volunteer":
            turn.say("not_ready.volunteer", options=options)
        else:
            turn.say("not_ready.feedback", options=options)


def _greet_returning(turn: _Turn) -> None:
    """The first greeting of a contact with an unfinished request offers to continue it."""
    state = turn.state
    if state.mode != Mode.RESUME:
        mode = state.mode if state.mode in FORM_MODES and state.mode != Mode.CANCEL else Mode.FORM
        if state.mode == Mode.CANCEL and state.resume_to:
            mode = Mode(state.resume_to.get("mode", Mode.FORM.value))
            mode = mode if mode in FORM_MODES else Mode.FORM
        state.resume_to = {
            "mode": mode.value,
            "step": state.step or _first_unanswered(turn),
            "editing": state.editing,
        }
    turn.say("menu.greeting")
    state.mode = Mode.RESUME
    _ask_resume(turn, menu=True)


def _cancel_draft(turn: _Turn) -> None:
    """A long draft is deleted only after a yes; typing «إلغاء» again is that yes."""
    state = turn.state
    if len(state.draft) > CONFIRM_CANCEL_AFTER and state.mode != Mode.CANCEL:
        state.resume_to = {
            "mode": state.mode.value,
            "step": state.step,
            "editing": state.editing,
            "previous": state.resume_to,  # where a resume prompt would have led
        }
        state.mode = Mode.CANCEL
        _ask_cancel(turn)
        return
    _discard_draft(turn, "cancelled")
    turn.say("form.cancelled")
    _menu(turn, greet=False)


def _ask_cancel(turn: _Turn) -> None:
    options = (turn.option("cancel.yes", "cancel.yes"), turn.option("cancel.no", "cancel.no"))
    turn.say("cancel.confirm", options=options)


def _on_cancel(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "cancel.yes":
        _cancel_draft(turn)
    elif choice == "cancel.no":
        target = state.resume_to or {"mode": Mode.FORM.value, "step": _first_unanswered(turn)}
        state.mode = Mode(target.get("mode", Mode.FORM.value))
        state.step = target.get("step")
        state.editing = bool(target.get("editing"))
        state.resume_to = target.get("previous")
        if state.mode == Mode.FORM and state.step is None:
            state.step = _first_unanswered(turn)
            if state.step is None:
                state.mode = Mode.SUMMARY
        _reprompt(turn)
    else:
        turn.say("error.choose_option")
        _ask_cancel(turn)


def _set_language(turn: _Turn, lang: str) -> None:
    turn.state.lang = lang
    turn.events.append(LanguageChanged(lang))
    turn.say("language.changed")
    if turn.state.mode == Mode.LANGUAGE or turn.state.mode not in FORM_MODES:
        turn.state.mode = Mode.MENU
        _menu(turn, greet=False)
    else:
        _reprompt(turn)


def _menu(turn: _Turn, greet: bool) -> None:
    turn.state.mode = Mode.MENU
    options = tuple(turn.option(option_id, key) for option_id, key in MENU_ITEMS)
    if greet:
        turn.say("menu.greeting", options=options)
    else:
        turn.say("menu.title", options=options)


def _handoff(turn: _Turn, reason: str) -> None:
    turn.events.append(EscalationRequested(reason))
    turn.state.mode = Mode.HANDOFF
    options = (turn.option("menu.main", "option.menu"),)
    if reason == "unclear":
        turn.say("handoff.unclear", options=options)
    else:
        turn.say("handoff.recorded", options=options)


# ---------------------------------------------------------------- menu, questions, status


def _on_menu(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    if choice is not None and choice.startswith("faq."):
        _answer_suggestion(turn, choice)
        _after_answer(turn)
        return
    if inbound.attachments and not text:
        turn.say("error.file_not_expected")
        _menu(turn, greet=False)
        return
    if not text:
        turn.say("error.empty_menu")
        _menu(turn, greet=False)
        return
    _answer_question(turn, text)
    _after_answer(turn)


def _after_answer(turn: _Turn) -> None:
    if turn.state.mode == Mode.ASK:
        turn.state.mode = Mode.MENU


def _answer_question(turn: _Turn, text: str) -> str:
    """Answer free text from the guides. Returns the FAQ status: confident | likely | unsure | none."""
    ctx, state = turn.ctx, turn.state
    result = ctx.faq(text) if ctx.faq is not None else None
    status = getattr(result, "status", "none")
    lang = getattr(result, "lang", state.lang) if result is not None else state.lang
    if lang != state.lang and not any(ch.isascii() and ch.isalpha() for ch in text):
        lang = state.lang  # emoji, digits or symbols only: keep the contact's language
    t = translator(lang)
    if status == "confident":
        entry = result.entry
        source = t("faq.source", guide=entry.guide_title.get(lang, ""), section=entry.section.get(lang, ""))
        options = []
        if entry.action in ACTIONS:
            option_id, key = ACTIONS[entry.action]
            options.append(Option(option_id, t(key)))
        options.append(Option("menu.main", t("option.menu")))
        turn.say_text(
            f"{entry.answer[lang]}\n\n{source}", key=f"faq:{entry.id}", options=tuple(options), lang=lang
        )
        return status
    if status == "likely":
        _answer_likely(turn, result.entry, result.suggestions, lang)
        return status
    if status == "unsure" and result.suggestions:
        state.faq_suggestions = [entry.id for entry in result.suggestions[:3]]
        options = [
            Option(f"faq.{index}", entry.questions[lang][0][:100])
            for index, entry in enumerate(result.suggestions[:3], start=1)
        ]
        options.append(Option("menu.human", t("faq.none_of_these")))
        turn.say_text(t("faq.did_you_mean"), key="faq.did_you_mean", options=tuple(options), lang=lang)
        return status
    # Only text with letters that is not an option, a command or an exit word is an unanswered question.
    worth = worth_recording(text, _option_words(ctx.form))
    forward = worth and len(fold(text)) >= 6
    if worth:
        turn.events.append(QuestionUnanswered(key=_gap_key(text), lang=lang, text=text, forward=forward))
    if forward:
        turn.say_text(
            t("faq.no_answer_forwarded"),
            key="faq.no_answer_forwarded",
            options=(Option("menu.main", t("option.menu")),),
            lang=lang,
        )
    else:
        turn.say_text(
            t("faq.no_answer"),
            key="faq.no_answer",
            options=(Option("menu.human", t("menu.option.human")), Option("menu.main", t("option.menu"))),
            lang=lang,
        )
    return "none"


@cache
def _option_words(form: FormDefinition) -> tuple[str, ...]:
    """Every option label the assistant shows, in both languages: typed alone, it is not a question."""
    keys = OPTION_KEYS + tuple(key for _id, key in (*MENU_ITEMS, *ACTIONS.values()))
    keys += tuple(RATING_WORDS.values()) + tuple(c.label for f in form.fields for c in f.choices)
    return tuple(translator(lang)(key) for key in keys for lang in ("ar", "en"))


def _gap_key(text: str) -> str:
    try:
        from flows.faq import gap_key
    except ImportError:  # guides not installed: keep a digit-free folded form
        return re.sub(r"\d+", "#", fold(text))[:200]
    return gap_key(text)


ACTIONS = {
    "apply": ("menu.apply", N_("faq.action.apply")),
    "status": ("menu.status", N_("faq.action.status")),
    "human": ("menu.human", N_("menu.option.human")),
    "volunteer": ("menu.volunteer", N_("menu.option.volunteer")),
    "complaint": ("menu.feedback", N_("menu.option.feedback")),
}


def _answer_likely(turn: _Turn, entry: Any, others: tuple, lang: str) -> None:
    """«I think you are asking about: …» + the answer + yes / no; «no» offers the other suggestions, then a
    person. The other suggestions wait in `faq_suggestions` behind the answered entry's id."""
    t = translator(lang)
    turn.state.faq_suggestions = [entry.id, *(other.id for other in others[:3])]
    source = t("faq.source", guide=entry.guide_title.get(lang, ""), section=entry.section.get(lang, ""))
    text = f"{t('faq.likely', question=entry.questions[lang][0])}\n\n{entry.answer[lang]}\n\n{source}"
    options = [Option("faq.yes", t("faq.likely_yes")), Option("faq.no", t("faq.likely_no"))]
    if entry.action in ACTIONS:
        option_id, key = ACTIONS[entry.action]
        options.append(Option(option_id, t(key)))
    turn.say_text(text, key=f"faq:{entry.id}", options=tuple(options), lang=lang)


def _likely_reply(turn: _Turn, choice: str) -> None:
    state, t = turn.state, turn.t
    if choice == "faq.yes":
        turn.say_text(
            t("faq.likely_glad"), key="faq.likely_glad", options=(Option("menu.main", t("option.menu")),)
        )
        return
    finder = getattr(turn.ctx.faq, "entry", None)
    others = [finder(entry_id) for entry_id in state.faq_suggestions[1:]] if callable(finder) else []
    others = [entry for entry in others if entry is not None]
    state.faq_suggestions = [entry.id for entry in others]
    options = [
        Option(f"faq.{index}", entry.questions[state.lang][0][:100])
        for index, entry in enumerate(others, start=1)
    ]
    options.append(Option("menu.human", t("faq.none_of_these") if others else t("menu.option.human")))
    options.append(Option("menu.main", t("option.menu")))
    text = t("faq.likely_other") if others else t("faq.likely_person")
    turn.say_text(text, key="faq.likely_no", options=tuple(options))


def _answer_suggestion(turn: _Turn, choice: str) -> None:
    state, ctx = turn.state, turn.ctx
    if choice in ("faq.yes", "faq.no"):
        _likely_reply(turn, choice)
        return
    index = int(choice.split(".")[1]) - 1 if choice.split(".")[1].isdigit() else -1
    entry_id = state.faq_suggestions[index] if 0 <= index < len(state.faq_suggestions) else None
    finder = getattr(ctx.faq, "entry", None)
    entry = finder(entry_id) if entry_id and callable(finder) else None
    if entry is None:
        turn.say("error.unknown_option")
        return
    t = turn.t
    source = t(
        "faq.source", guide=entry.guide_title.get(state.lang, ""), section=entry.section.get(state.lang, "")
    )
    options = []
    if entry.action in ACTIONS:
        option_id, key = ACTIONS[entry.action]
        options.append(Option(option_id, t(key)))
    options.append(Option("menu.main", t("option.menu")))
    turn.say_text(f"{entry.answer[state.lang]}\n\n{source}", key=f"faq:{entry.id}", options=tuple(options))


def _requests(ctx: Context) -> tuple[RequestView, ...]:
    if ctx.requests is None:
        raise NeedsRequests
    return ctx.requests


def _status(turn: _Turn) -> None:
    requests = _requests(turn.ctx)
    if not requests:
        options = (turn.option("menu.apply", "menu.option.apply"), turn.option("menu.main", "option.menu"))
        turn.say("status.none", options=options)
        return
    t = turn.t
    lines = [t.n("status.count", len(requests))]
    for request in requests:
        line = t("status.line", reference=request.reference, status=status_words(request.status, t))
        if request.status in AWAITING_DECISION:
            line += "\n" + t("status.due", date=t.date(_local(request.due_at, turn.ctx)))
        lines.append(line)
    turn.say_text("\n\n".join(lines), key="status.list", options=(turn.option("menu.main", "option.menu"),))


def _local(moment: datetime, ctx: Context) -> datetime:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(ctx.settings.timezone))


# ---------------------------------------------------------------- the support request


def _start_application(turn: _Turn) -> None:
    state, ctx = turn.state, turn.ctx
    open_requests = [r for r in _requests(ctx) if r.status in OPEN_STATUSES]
    if open_requests and not state.resubmits:
        existing = open_requests[0]
        state.mode = Mode.MENU
        options = (
            turn.option("menu.status", "menu.option.status"),
            turn.option("menu.human", "menu.option.human"),
        )
        turn.say(
            "apply.already_open",
            reference=existing.reference,
            status=status_words(existing.status, turn.t),
            options=options,
        )
        return
    if state.draft:
        state.resume_to = {
            "mode": Mode.FORM.value,
            "step": state.step or _first_unanswered(turn),
            "editing": False,
        }
        state.mode = Mode.RESUME
        _ask_resume(turn)
        return
    if not ctx.consented:
        state.mode = Mode.CONSENT
        options = (turn.option("consent.yes", "consent.agree"), turn.option("consent.no", "consent.decline"))
        turn.say("consent.text", options=options)
        return
    _begin_form(turn)


def _begin_form(turn: _Turn) -> None:
    state = turn.state
    state.draft, state.editing = {}, False
    state.draft_started = turn.ctx.now.isoformat()
    state.mode = Mode.FORM
    first = turn.ctx.form.fields[0]
    state.step = first.name
    turn.say_text(turn.t.n("form.intro", len(turn.ctx.form.fields)), key="form.intro")
    _prompt_field(turn, first)


def _on_consent(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    if choice == "consent.yes":
        turn.events.append(ConsentGiven())
        _begin_form(turn)
    elif choice == "consent.no":
        turn.say("consent.declined")
        _menu(turn, greet=False)
    else:
        turn.say("error.choose_option")
        _reprompt(turn)


def _ask_resume(turn: _Turn, menu: bool = False) -> None:
    answered = len([f for f in turn.ctx.form.fields if f.name in turn.state.draft])
    options: tuple[Option, ...] = (
        turn.option("resume.continue", "resume.continue"),
        turn.option("resume.restart", "resume.restart"),
    )
    if menu:
        options += (turn.option("menu.main", "option.menu"),)
    turn.say(
        "form.resume",
        answered=turn.t.n("form.answered", answered),
        total=turn.t.number(len(turn.ctx.form.fields)),
        options=options,
    )


def _on_resume(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "resume.continue":
        target = state.resume_to or {"mode": Mode.FORM.value, "step": _first_unanswered(turn)}
        state.mode = Mode(target.get("mode", Mode.FORM.value))
        state.step = target.get("step") or _first_unanswered(turn)
        state.editing = bool(target.get("editing"))
        state.resume_to = None
        if state.mode == Mode.FORM and state.step is None:
            state.mode = Mode.SUMMARY
        _reprompt(turn)
    elif choice == "resume.restart":
        _discard_draft(turn, "restarted")
        _begin_form(turn)
    else:
        turn.say("error.choose_option")
        _reprompt(turn)


def _first_unanswered(turn: _Turn) -> str | None:
    return next((f.name for f in turn.ctx.form.fields if f.name not in turn.state.draft), None)


def _discard_draft(turn: _Turn, reason: str) -> None:
    state = turn.state
    if state.draft:
        turn.events.append(DraftDiscarded(reason))
    state.draft, state.draft_started, state.step, state.editing, state.resume_to = {}, None, None, False, None
    state.missing, state.resubmits = [], None


def _prompt_field(turn: _Turn, form_field: FormField) -> None:
    t = turn.t
    options: list[Option] = []
    if form_field.kind == FieldKind.CHOICE:
        options = [Option(f"c.{choice.id}", t(choice.label)) for choice in form_field.choices]
    if not form_field.required:
        options.append(Option("form.skip", t("option.skip")))
    expect = Expect.ATTACHMENT if form_field.kind == FieldKind.ATTACHMENT else None
    position = [f.name for f in turn.ctx.form.fields].index(form_field.name) + 1
    progress = t("form.progress", n=t.number(position), total=t.number(len(turn.ctx.form.fields)))
    turn.say_text(
        f"{progress}\n{t(form_field.prompt)}", key=form_field.prompt, options=tuple(options), expect=expect
    )


def _on_form(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state, ctx = turn.state, turn.ctx
    form_field = ctx.form.field(state.step or "")
    if form_field is None:  # the form changed under a saved draft
        state.step = _first_unanswered(turn)
        _reprompt(turn)
        return
    if choice is not None and choice.startswith("faq."):
        _answer_suggestion(turn, choice)
        turn.say("form.back_to_step")
        _prompt_field(turn, form_field)
        return
    if choice == "form.back":
        _prompt_field(turn, form_field)
        return
    if choice is None and chosen_number(text) is not None and _suggestions_showing(turn):
        offered = tuple(Option(option_id, label) for option_id, label in turn.state.offered)
        turn.say("error.choose_option")
        turn.say_text(turn.t("faq.did_you_mean"), key="faq.did_you_mean", options=offered)
        return
    if choice == "form.skip" and not form_field.required:
        state.draft.pop(form_field.name, None)
        _advance(turn, form_field)
        return

    value: Any
    if form_field.kind == FieldKind.ATTACHMENT:
        if not inbound.attachments:
            if text and _is_question(turn, text):
                _question_in_form(turn, text, form_field)
                return
            turn.say("error.attachment_expected")
            _prompt_field(turn, form_field)
            return
        value = inbound.attachments[0]
    elif form_field.kind == FieldKind.CHOICE:
        if choice is None or not choice.startswith("c."):
            if text and _is_question(turn, text):
                _question_in_form(turn, text, form_field)
                return
            if text:
                turn.say("error.choose_option")
            else:
                turn.say("error.empty")
            _prompt_field(turn, form_field)
            return
        value = choice[2:]
    else:
        if inbound.attachments and not text:
            turn.say("error.text_expected")
            _prompt_field(turn, form_field)
            return
        value = text

    outcome = VALIDATORS[form_field.validator](value, state.draft)
    if isinstance(outcome, Invalid):
        if isinstance(value, str) and value and _is_question(turn, value):
            _question_in_form(turn, value, form_field)
            return
        params = {k: _param(turn, v) for k, v in outcome.params.items()}
        if outcome.count is not None:
            turn.say_n(outcome.error_key, outcome.count, **params)
        else:
            turn.say(outcome.error_key, **params)
        _prompt_field(turn, form_field)
        return
    if isinstance(value, str) and _is_question(turn, value) and _faq_confident(turn, value):
        _question_in_form(turn, value, form_field)
        return
    state.draft[form_field.name] = outcome.value
    _advance(turn, form_field)


def _param(turn: _Turn, value: Any) -> Any:
    return turn.t.number(value) if isinstance(value, int) else value


def _is_question(turn: _Turn, text: str) -> bool:
    if turn.ctx.faq is None:
        return False
    from flows.faq import looks_like_question

    return looks_like_question(text)


def _faq_confident(turn: _Turn, text: str) -> bool:
    return turn.ctx.faq is not None and getattr(turn.ctx.faq(text), "status", "none") == "confident"


def _question_in_form(turn: _Turn, text: str, form_field: FormField) -> None:
    """A question asked in the middle of the form: answer it, then ask the same field again. A list of
    suggestions stays the newest message, so that its numbers choose a suggestion, not the field's answer."""
    _answer_question(turn, text)
    if turn.messages and turn.messages[-1].key == "faq.did_you_mean":
        turn.add_option(Option("form.back", turn.t("form.back_to_question")))
        return
    turn.say("form.back_to_step")
    _prompt_field(turn, form_field)


def _suggestions_showing(turn: _Turn) -> bool:
    return any(entry[0].startswith("faq.") for entry in turn.state.offered)


def _advance(turn: _Turn, answered: FormField) -> None:
    state, form = turn.state, turn.ctx.form
    if state.missing:
        remaining = [name for name in state.missing if name != answered.name and name not in state.draft]
        state.missing = [name for name in state.missing if name != answered.name]
        if remaining:
            state.step = remaining[0]
            _prompt_field(turn, form.field(remaining[0]))  # type: ignore[arg-type]
            return
        _show_summary(turn)
        return
    if state.editing:
        state.editing = False
        _show_summary(turn)
        return
    following = form.next_after(answered.name)
    while following is not None and following.name in state.draft:
        following = form.next_after(following.name)
    if following is None:
        _show_summary(turn)
        return
    state.step = following.name
    _prompt_field(turn, following)


def display_value(form_field: FormField, value: Any, t: Translator) -> str:
    if value is None:
        return t("summary.empty")
    if form_field.kind == FieldKind.CHOICE:
        choice = next((c for c in form_field.choices if c.id == value), None)
        return t(choice.label) if choice else str(value)
    if form_field.kind == FieldKind.ATTACHMENT:
        return t("summary.file_received", name=value.get("name") or value.get("mime", ""))
    if isinstance(value, int):
        return t.number(value)
    # Phone numbers and IDs: keep left-to-right inside Arabic text.
    return (
        f"\u2068{value}\u2069"
        if form_field.validator in ("saudi_mobile", "saudi_national_id")
        else str(value)
    )


def _show_summary(turn: _Turn) -> None:
    state, form, t = turn.state, turn.ctx.form, turn.t
    state.mode, state.step = Mode.SUMMARY, None
    lines = [t("summary.title")]
    for form_field in form.fields:
        lines.append(
            f"• {t(form_field.label)}: {display_value(form_field, state.draft.get(form_field.name), t)}"
        )
    lines.append(t("summary.hint"))
    turn.say_text(
        "\n".join(lines),
        key="summary.title",
        options=(
            turn.option("summary.send", "summary.send"),
            turn.option("summary.edit", "summary.edit"),
            turn.option("summary.cancel", "summary.cancel"),
        ),
    )


def _on_summary(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    missing = [f.name for f in turn.ctx.form.fields if f.required and f.name not in state.draft]
    if choice == "summary.send":
        if missing:
            state.mode, state.step = Mode.FORM, missing[0]
            turn.say("summary.incomplete")
            _reprompt(turn)
            return
        state.mode = Mode.DECLARATION
        _ask_declaration(turn)
    elif choice == "summary.edit":
        state.mode = Mode.EDIT_PICK
        _ask_edit_pick(turn)
    elif choice == "summary.cancel":
        _cancel_draft(turn)
    else:
        if text and _is_question(turn, text):
            _answer_question(turn, text)
        else:
            turn.say("error.choose_option")
        _show_summary(turn)


def _ask_edit_pick(turn: _Turn) -> None:
    options = tuple(Option(f"e.{f.name}", turn.t(f.label)) for f in turn.ctx.form.fields)
    back = turn.option("summary.back", "option.back")
    turn.say("summary.pick_field", options=options + (back,))


def _on_edit_pick(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "summary.back":
        _show_summary(turn)
        return
    form_field = turn.ctx.form.field(choice[2:]) if choice and choice.startswith("e.") else None
    if form_field is None:
        turn.say("error.choose_option")
        _ask_edit_pick(turn)
        return
    state.mode, state.step, state.editing = Mode.FORM, form_field.name, True
    _prompt_field(turn, form_field)


def _ask_declaration(turn: _Turn) -> None:
    options = (
        turn.option("declaration.confirm", "declaration.confirm"),
        turn.option("declaration.back", "declaration.back"),
    )
    turn.say(turn.ctx.form.declaration_text, options=options)


def confirmed_data_hash(answers: dict, declaration_version: str) -> str:
    """SHA-256 of exactly what the applicant confirmed (canonical JSON), stored with the declaration."""
    canonical = json.dumps(
        {"answers": answers, "declaration_version": declaration_version},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _on_declaration(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state, form = turn.state, turn.ctx.form
    if choice == "declaration.back":
        _show_summary(turn)
        return
    if choice != "declaration.confirm":
        turn.say("error.choose_option")
        _ask_declaration(turn)
        return
    attachments = {
        f.name: state.draft[f.name]
        for f in form.fields
        if f.kind == FieldKind.ATTACHMENT and f.name in state.draft
    }
    answers = {f.name: state.draft[f.name] for f in form.fields if f.name in state.draft}
    support_type = str(answers.get("support_type", "other"))
    turn.events.append(
        RequestSubmitted(
            answers=answers,
            attachments=attachments,
            support_type=support_type,
            declaration_version=form.declaration_version,
            data_sha256=confirmed_data_hash(answers, form.declaration_version),
            resubmits=state.resubmits,
        )
    )
    state.draft, state.draft_started, state.step, state.editing = {}, None, None, False
    state.missing, state.resubmits = [], None
    state.mode = Mode.MENU
    state.offered = []


def submitted_messages(
    reference: str, due_at: datetime, lang: str, ctx: Context, resubmitted: bool
) -> list[Outbound]:
    """The confirmation after the service has stored the request and given it a reference."""
    t = translator(lang)
    due = t.date(_local(due_at, ctx))
    if resubmitted:
        key, text = "submitted.again", t("submitted.again", reference=reference, date=due)
    else:
        days = t.n("days", ctx.settings.decision_days)
        key, text = "submitted.text", t("submitted.text", reference=reference, days=days, date=due)
    options = (
        Option("menu.status", t("menu.option.status")),
        Option("menu.main", t("option.menu")),
    )
    return [Outbound(text=text, key=key, options=options, expect=Expect.CHOICE, lang=lang)]


# ---------------------------------------------------------------- other modes


def _on_ask(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    _on_menu(turn, inbound, text, choice)


def _on_language(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    turn.say("error.choose_option")
    _reprompt(turn)


def _on_handoff(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    """Waiting for a person: what the beneficiary writes goes to the staff thread."""
    if choice is not None and choice.startswith("faq."):
        _answer_suggestion(turn, choice)
        return
    if not text and not inbound.attachments:
        turn.say("error.empty")
        return
    turn.events.append(BeneficiaryMessage(text=text, attachments=inbound.attachments))
    options = (turn.option("menu.main", "option.menu"),)
    turn.say("handoff.relayed", options=options)


def _on_comment(turn: _Turn, inbound: Inbound, text: str, choice: str | None) -> None:
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
    _menu(turn, greet=False)


_HANDLERS = {
    Mode.MENU: _on_menu,
    Mode.ASK: _on_ask,
    Mode.LANGUAGE: _on_language,
    Mode.CONSENT: _on_consent,
    Mode.RESUME: _on_resume,
    Mode.FORM: _on_form,
    Mode.SUMMARY: _on_summary,
    Mode.EDIT_PICK: _on_edit_pick,
    Mode.DECLARATION: _on_declaration,
    Mode.HANDOFF: _on_handoff,
    Mode.COMMENT: _on_comment,
    Mode.CANCEL: _on_cancel,
}


def _reprompt(turn: _Turn) -> None:
    """Ask again whatever the current mode is waiting for."""
    state, form = turn.state, turn.ctx.form
    if state.mode == Mode.FORM:
        form_field = form.field(state.step or "") or form.fields[0]
        _prompt_field(turn, form_field)
    elif state.mode == Mode.SUMMARY:
        _show_summary(turn)
    elif state.mode == Mode.EDIT_PICK:
        _ask_edit_pick(turn)
    elif state.mode == Mode.DECLARATION:
        _ask_declaration(turn)
    elif state.mode == Mode.RESUME:
        _ask_resume(turn)
    elif state.mode == Mode.CANCEL:
        _ask_cancel(turn)
    elif state.mode == Mode.CONSENT:
        options = (turn.option("consent.yes", "consent.agree"), turn.option("consent.no", "consent.decline"))
        turn.say("consent.text", options=options)
    elif state.mode == Mode.LANGUAGE:
        options = (Option("lang.ar", "العربية"), Option("lang.en", "English"))
        turn.say("language.choose", options=options)
    elif state.mode == Mode.ASK:
        options = (turn.option("menu.main", "option.menu"),)
        turn.say("faq.ask_prompt", options=options)
    else:
        _menu(turn, greet=False)


def _draft_expired(state: State, ctx: Context) -> bool:
    if not state.draft or not state.draft_started:
        return False
    return ctx.now - datetime.fromisoformat(state.draft_started) > ctx.settings.draft_expiry


def _came_back_after_a_while(previous_at: str | None, ctx: Context) -> bool:
    if previous_at is None:
        return False
    return ctx.now - datetime.fromisoformat(previous_at) >= ctx.settings.resume_prompt_after


def needs_info_state(state: State, reference: str, fields: list[str], answers: dict) -> State:
    """Put a contact back into the form at exactly the fields staff asked for (the decisions issue uses it)."""
    draft = {k: v for k, v in answers.items() if k not in fields}
    return replace(
        state,
        mode=Mode.FORM,
        step=fields[0],
        draft=draft,
        missing=list(fields),
        resubmits=reference,
        editing=False,
        held=False,
    )
