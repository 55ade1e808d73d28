"""The end of a form: the summary, changing an answer, the declaration and the submit; also resuming a draft
after a while and cancelling a long one (flows/form_runner.py asks the fields)."""

from __future__ import annotations

import hashlib
import json

from flows.answering import answer_question, is_question
from flows.events import FormSubmitted, RequestSubmitted
from flows.form import FieldKind
from flows.form_runner import (
    asked_fields,
    begin_form,
    discard_draft,
    display_value,
    first_unanswered,
    form_of,
    prompt_field,
    text_of,
)
from flows.menu import menu
from flows.messages import Inbound, Option
from flows.turn import CONFIRM_CANCEL_AFTER, FORM_MODES, Mode, Turn


def _reprompt(turn: Turn) -> None:
    from flows.engine import reprompt

    reprompt(turn)


def show_summary(turn: Turn) -> None:
    state, form, t = turn.state, form_of(turn), turn.t
    state.mode, state.step = Mode.SUMMARY, None
    lines = [t("summary.title")]
    for form_field in asked_fields(form, state.draft):
        value = display_value(form_field, state.draft.get(form_field.name), t, form)
        lines.append(f"• {text_of(turn, form_field.label)}: {value}")
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


def on_summary(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    asked = asked_fields(form_of(turn), state.draft)
    missing = [f.name for f in asked if f.required and f.name not in state.draft]
    if choice == "summary.send":
        if missing:
            state.mode, state.step = Mode.FORM, missing[0]
            turn.say("summary.incomplete")
            _reprompt(turn)
            return
        if not form_of(turn).declaration_text:
            submit(turn)
            return
        state.mode = Mode.DECLARATION
        ask_declaration(turn)
    elif choice == "summary.edit":
        state.mode = Mode.EDIT_PICK
        ask_edit_pick(turn)
    elif choice == "summary.cancel":
        cancel_draft(turn)
    else:
        if text and is_question(turn, text):
            answer_question(turn, text)
        else:
            turn.say("error.choose_option")
        show_summary(turn)


def ask_edit_pick(turn: Turn) -> None:
    fields = asked_fields(form_of(turn), turn.state.draft)
    options = tuple(Option(f"e.{f.name}", text_of(turn, f.label)) for f in fields)
    back = turn.option("summary.back", "option.back")
    turn.say("summary.pick_field", options=options + (back,))


def on_edit_pick(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "summary.back":
        show_summary(turn)
        return
    form_field = form_of(turn).field(choice[2:]) if choice and choice.startswith("e.") else None
    if form_field is None:
        turn.say("error.choose_option")
        ask_edit_pick(turn)
        return
    state.mode, state.step, state.editing = Mode.FORM, form_field.name, True
    prompt_field(turn, form_field)


# Presses that submit the form in the turn they are pressed (the declaration's confirmation): the service takes
# them to the raw submission path (storage/hot_submit.py), which reads the state and reserves the reference in
# one go, rather than to the per-message path; a submission that path does not take goes to the full path.
SUBMITTING_OPTIONS = frozenset({"declaration.confirm"})


def ask_declaration(turn: Turn) -> None:
    options = (
        turn.option("declaration.confirm", "declaration.confirm"),
        turn.option("declaration.back", "declaration.back"),
    )
    turn.say(form_of(turn).declaration_text, options=options)


def confirmed_data_hash(answers: dict, declaration_version: str) -> str:
    """SHA-256 of exactly what the applicant confirmed (canonical JSON), stored with the declaration."""
    canonical = json.dumps(
        {"answers": answers, "declaration_version": declaration_version},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def on_declaration(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    if choice == "declaration.back":
        show_summary(turn)
        return
    if choice != "declaration.confirm":
        turn.say("error.choose_option")
        ask_declaration(turn)
        return
    submit(turn)


def submit(turn: Turn) -> None:
    state, form = turn.state, form_of(turn)
    fields = asked_fields(form, state.draft)  # an answer a later change made irrelevant is not sent
    attachments = {
        f.name: state.draft[f.name]
        for f in fields
        if f.kind == FieldKind.ATTACHMENT and f.name in state.draft
    }
    answers = {f.name: state.draft[f.name] for f in fields if f.name in state.draft}
    data_hash = confirmed_data_hash(answers, form.declaration_version) if form.declaration_version else ""
    if form.submit.record == "request":
        turn.events.append(
            RequestSubmitted(
                answers=answers,
                attachments=attachments,
                support_type=str(answers.get("support_type", "other")),
                declaration_version=form.declaration_version,
                data_sha256=data_hash,
                resubmits=state.resubmits,
            )
        )
    else:
        turn.events.append(
            FormSubmitted(
                form=form.name,
                answers=answers,
                attachments=attachments,
                declaration_version=form.declaration_version,
                data_sha256=data_hash,
                anonymous=answers.get("anonymous") == "yes",
            )
        )
    state.draft, state.draft_started, state.step, state.editing = {}, None, None, False
    state.missing, state.resubmits, state.form = [], None, None
    state.mode = Mode.MENU
    state.offered = []


# ---------------------------------------------------------------- resuming and cancelling a draft


def ask_resume(turn: Turn, menu: bool = False) -> None:
    form = form_of(turn)
    answered = len([f for f in form.fields if f.name in turn.state.draft])
    options: tuple[Option, ...] = (
        turn.option("resume.continue", "resume.continue"),
        turn.option("resume.restart", "resume.restart"),
    )
    if menu:
        options += (turn.option("menu.main", "option.menu"),)
    params = {"answered": turn.t.n("form.answered", answered), "total": turn.t.number(len(form.fields))}
    if form.title:  # another form than the support request: name it
        turn.say("form.resume_any", title=text_of(turn, form.title), options=options, **params)
    else:
        turn.say("form.resume", options=options, **params)


def on_resume(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "resume.continue":
        target = state.resume_to or {"mode": Mode.FORM.value, "step": first_unanswered(turn)}
        state.mode = Mode(target.get("mode", Mode.FORM.value))
        state.step = target.get("step") or first_unanswered(turn)
        state.editing = bool(target.get("editing"))
        state.resume_to = None
        if state.mode == Mode.FORM and state.step is None:
            state.mode = Mode.SUMMARY
        _reprompt(turn)
    elif choice == "resume.restart":
        name = state.form
        discard_draft(turn, "restarted")
        state.form = name
        begin_form(turn)
    else:
        turn.say("error.choose_option")
        _reprompt(turn)


def greet_returning(turn: Turn) -> None:
    """The first greeting of a contact with an unfinished request offers to continue it."""
    state = turn.state
    if state.mode != Mode.RESUME:
        mode = state.mode if state.mode in FORM_MODES and state.mode != Mode.CANCEL else Mode.FORM
        if state.mode == Mode.CANCEL and state.resume_to:
            mode = Mode(state.resume_to.get("mode", Mode.FORM.value))
            mode = mode if mode in FORM_MODES else Mode.FORM
        state.resume_to = {
            "mode": mode.value,
            "step": state.step or first_unanswered(turn),
            "editing": state.editing,
        }
    turn.say("menu.greeting")
    state.mode = Mode.RESUME
    ask_resume(turn, menu=True)


def cancel_draft(turn: Turn) -> None:
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
        ask_cancel(turn)
        return
    discard_draft(turn, "cancelled")
    turn.say("form.cancelled")
    menu(turn, greet=False)


def ask_cancel(turn: Turn) -> None:
    options = (turn.option("cancel.yes", "cancel.yes"), turn.option("cancel.no", "cancel.no"))
    turn.say("cancel.confirm", options=options)


def on_cancel(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "cancel.yes":
        cancel_draft(turn)
    elif choice == "cancel.no":
        target = state.resume_to or {"mode": Mode.FORM.value, "step": first_unanswered(turn)}
        state.mode = Mode(target.get("mode", Mode.FORM.value))
        state.step = target.get("step")
        state.editing = bool(target.get("editing"))
        state.resume_to = target.get("previous")
        if state.mode == Mode.FORM and state.step is None:
            state.step = first_unanswered(turn)
            if state.step is None:
                state.mode = Mode.SUMMARY
        _reprompt(turn)
    else:
        turn.say("error.choose_option")
        ask_cancel(turn)
