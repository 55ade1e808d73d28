"""The conversation engine: one pure step per inbound message.

step(state, inbound, ctx) -> StepResult(state, messages, events). It reads nothing and sends nothing: the
service loads the context, applies the events and stores the new state; channels render the messages.
This module routes: commands, the menu's entries and each mode's handler. The journeys live in their own
modules: flows/menu.py, flows/answering.py (FAQ), flows/form_runner.py + flows/form_review.py (any form),
flows/support_request.py, flows/status.py, flows/handoff.py, flows/survey_comment.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from flows.answering import on_ask, on_menu
from flows.choices import Match, label_command, match_option
from flows.events import BeneficiaryMessage, DraftDiscarded, FormReply, LanguageChanged, RatingGiven
from flows.form import BUTTON_KINDS
from flows.form_desk import SATISFIED_PREFIX
from flows.form_review import (  # noqa: F401  (confirmed_data_hash is re-exported)
    ask_cancel,
    ask_declaration,
    ask_edit_pick,
    ask_resume,
    cancel_draft,
    confirmed_data_hash,
    greet_returning,
    on_cancel,
    on_declaration,
    on_edit_pick,
    on_resume,
    on_summary,
    show_summary,
)
from flows.form_runner import display_value, form_of, on_form, prompt_field, start_form  # noqa: F401  (re-exported)
from flows.handoff import handoff, on_handoff
from flows.menu import (  # noqa: F401  (re-exported: the service, the desk and the tests import them here)
    ACTIONS,
    COMMAND_OF,
    COMMANDS,
    JOURNEY_FORMS,
    MENU_ITEMS,
    NAVIGATION,
    ask_language,
    ask_question_prompt,
    help_text,
    menu,
    navigation_labels,
)
from flows.messages import Inbound, Outbound
from flows.my_data import my_data_menu, on_confirm, on_field, on_my_data, on_value, reprompt_my_data
from flows.status import AWAITING_DECISION, OPEN_STATUSES, STATUS_WORDS, show_status, status_words  # noqa: F401
from flows.support_request import (  # noqa: F401  (re-exported)
    ask_consent,
    needs_info_state,
    on_consent,
    start_application,
    submitted_messages,
)
from flows.survey_comment import on_comment
from flows.survey_text import parse_rating
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
    Turn,
)
from locales import translator


def step(state: State, inbound: Inbound, ctx: Context) -> StepResult:
    """Handle one inbound message. Never raises on bad input: every path ends in a clear reply."""
    previous_at = state.last_at
    state = replace(state, offered=list(state.offered), draft=dict(state.draft), last_at=ctx.now.isoformat())
    turn = Turn(state, ctx)
    text = clean(inbound.text)

    if len(inbound.text or "") > MAX_TEXT_LENGTH:
        turn.say_text(turn.t.n("error.message_too_long", MAX_TEXT_LENGTH), key="error.message_too_long")
        reprompt(turn)
        return turn.result()

    if _draft_expired(state, ctx):
        state.draft, state.draft_started, state.step, state.editing = {}, None, None, False
        turn.events.append(DraftDiscarded("expired"))
        if state.mode in FORM_MODES or state.mode == Mode.RESUME:
            state.mode = Mode.MENU
            hours = int(ctx.settings.draft_expiry.total_seconds() // 3600)
            turn.say_text(turn.t.n("form.expired", hours), key="form.expired")
            menu(turn, greet=False)
            return turn.result()

    if inbound.option and inbound.option.startswith("rate."):
        rating = parse_rating(inbound.option)
        if rating is not None:
            # Polls arrive through the outbox, not as a reply to a step: the service checks the button.
            turn.events.append(RatingGiven(*rating))
            return turn.result()

    match = _resolve_choice(turn, inbound, text)
    choice = match.option_id if match else None
    if choice is not None and choice.startswith("rate.") and not inbound.option:
        rating = parse_rating(choice)  # a poll's rating typed as its number or its words
        if rating is not None:
            turn.events.append(RatingGiven(*rating))
            return _confirmed(turn, match)
    command = (
        choice
        if choice in NAVIGATION or _opens_form(ctx, choice)
        else (COMMAND_OF.get(fold(text)) or label_command(text, navigation_labels()))
        if text and not inbound.option and choice is None
        else None
    )
    if command is None and choice is None and inbound.option:
        turn.say("error.unknown_option")
        reprompt(turn)
        return turn.result()

    if choice is not None and choice.startswith(SATISFIED_PREFIX):
        answer, _, reference = choice.removeprefix(SATISFIED_PREFIX).partition(".")
        turn.events.append(FormReply(reference=reference, choice=answer))  # the service says the reply
        return _confirmed(turn, match)

    if state.held and command is None:
        # A person is answering: the bot relays and stays quiet.
        turn.events.append(BeneficiaryMessage(text=text, attachments=inbound.attachments))
        return turn.result()

    if command is not None:
        _command(turn, command)
        return _confirmed(turn, match)

    if ctx.first_contact and state.mode == Mode.MENU and not state.draft:
        menu(turn, greet=True)
        return turn.result()

    if (
        state.mode in FORM_MODES
        and state.mode != Mode.CANCEL
        and _came_back_after_a_while(previous_at, ctx)
        and choice is None
    ):
        state.resume_to = {"mode": state.mode.value, "step": state.step, "editing": state.editing}
        state.mode = Mode.RESUME
        ask_resume(turn)
        return turn.result()

    _HANDLERS[state.mode](turn, inbound, text, choice)
    return _confirmed(turn, match)


def _confirmed(turn: Turn, match: Match | None) -> StepResult:
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


def _resolve_choice(turn: Turn, inbound: Inbound, text: str) -> Match | None:
    state = turn.state
    if inbound.option is not None:
        offered = [entry[0] for entry in state.offered]
        known = (
            inbound.option in offered
            or inbound.option in NAVIGATION
            or _opens_form(turn.ctx, inbound.option)
            or inbound.option.startswith(SATISFIED_PREFIX)  # the button of an earlier notice
        )
        return Match(inbound.option, "", exact=True) if known else None
    if not text or not state.offered:
        return None
    form_field = form_of(turn).field(state.step or "") if state.mode == Mode.FORM else None
    # A number typed for a number or text field is the answer, unless a list of suggestions is showing.
    free_answer = form_field is not None and form_field.kind not in BUTTON_KINDS
    suggestions = any(entry[0].startswith("faq.") for entry in state.offered)
    return match_option(
        text,
        state.offered,
        numbers=not free_answer or suggestions,
        loose=not free_answer and state.mode not in FREE_TEXT_MODES,
    )


def _opens_form(ctx: Context, option: str | None) -> bool:
    """A menu entry of a form that has no fixed one («open.<form name>»): valid while the form exists."""
    return option is not None and option.startswith("open.") and ctx.has_form(option.removeprefix("open."))


def offered_of(messages: list[Outbound]) -> list[list[str]]:
    """The options of the newest message: what a typed number or label refers to next."""
    return [[o.id, o.label] for o in messages[-1].options] if messages else []


def _command(turn: Turn, command: str) -> None:
    state = turn.state
    if command == "start" and state.draft:
        greet_returning(turn)
    elif command in ("start", "menu.main"):
        menu(turn, greet=command == "start")
    elif command == "help":
        help_text(turn)
    elif command == "cancel":
        if state.draft or state.mode in FORM_MODES or state.mode in (Mode.RESUME, Mode.CONSENT):
            cancel_draft(turn)
        else:
            turn.say("cancel.nothing")
            menu(turn, greet=False)
    elif command == "menu.language":
        ask_language(turn)
    elif command in ("lang.ar", "lang.en"):
        _set_language(turn, command.split(".")[1])
    elif command == "menu.human":
        handoff(turn, "human")
    elif command == "menu.unclear":
        handoff(turn, "unclear")
    elif command == "menu.ask":
        ask_question_prompt(turn)
    elif command == "menu.apply":
        start_application(turn)
    elif command == "menu.mydata":
        my_data_menu(turn)
    elif command == "menu.status":
        state.mode = Mode.MENU
        show_status(turn)
    elif command.startswith("open."):
        start_form(turn, command.removeprefix("open."))
    elif command in JOURNEY_FORMS and turn.ctx.has_form(JOURNEY_FORMS[command]):
        start_form(turn, JOURNEY_FORMS[command])
    elif command in ("menu.volunteer", "menu.feedback"):
        state.mode = Mode.MENU
        options = (turn.option("menu.human", "menu.option.human"), turn.option("menu.main", "option.menu"))
        if command == "menu.volunteer":
            turn.say("not_ready.volunteer", options=options)
        else:
            turn.say("not_ready.feedback", options=options)


def _set_language(turn: Turn, lang: str) -> None:
    turn.state.lang = lang
    turn.events.append(LanguageChanged(lang))
    turn.say("language.changed")
    if turn.state.mode == Mode.LANGUAGE or turn.state.mode not in FORM_MODES:
        menu(turn, greet=False)
    else:
        reprompt(turn)


def _on_language(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    turn.say("error.choose_option")
    reprompt(turn)


_HANDLERS: dict[Mode, Callable[[Turn, Inbound, str, str | None], None]] = {
    Mode.MENU: on_menu,
    Mode.ASK: on_ask,
    Mode.LANGUAGE: _on_language,
    Mode.CONSENT: on_consent,
    Mode.RESUME: on_resume,
    Mode.FORM: on_form,
    Mode.SUMMARY: on_summary,
    Mode.EDIT_PICK: on_edit_pick,
    Mode.DECLARATION: on_declaration,
    Mode.HANDOFF: on_handoff,
    Mode.COMMENT: on_comment,
    Mode.CANCEL: on_cancel,
    Mode.MY_DATA: on_my_data,
    Mode.MY_DATA_FIELD: on_field,
    Mode.MY_DATA_VALUE: on_value,
    Mode.MY_DATA_CONFIRM: on_confirm,
}


def reprompt(turn: Turn) -> None:
    """Ask again whatever the current mode is waiting for."""
    state, form = turn.state, form_of(turn)
    if state.mode == Mode.FORM:
        prompt_field(turn, form.field(state.step or "") or form.fields[0])
    elif state.mode == Mode.SUMMARY:
        show_summary(turn)
    elif state.mode == Mode.EDIT_PICK:
        ask_edit_pick(turn)
    elif state.mode == Mode.DECLARATION:
        ask_declaration(turn)
    elif state.mode == Mode.RESUME:
        ask_resume(turn)
    elif state.mode == Mode.CANCEL:
        ask_cancel(turn)
    elif state.mode == Mode.CONSENT:
        ask_consent(turn)
    elif state.mode == Mode.LANGUAGE:
        ask_language(turn)
    elif state.mode == Mode.ASK:
        ask_question_prompt(turn)
    elif state.mode in (Mode.MY_DATA, Mode.MY_DATA_FIELD, Mode.MY_DATA_VALUE, Mode.MY_DATA_CONFIRM):
        reprompt_my_data(turn)
    else:
        menu(turn, greet=False)


def _draft_expired(state: State, ctx: Context) -> bool:
    if not state.draft or not state.draft_started:
        return False
    return ctx.now - datetime.fromisoformat(state.draft_started) > ctx.settings.draft_expiry


def _came_back_after_a_while(previous_at: str | None, ctx: Context) -> bool:
    if previous_at is None:
        return False
    return ctx.now - datetime.fromisoformat(previous_at) >= ctx.settings.resume_prompt_after
