"""The form runner: asks a form's fields one by one, checks each answer, answers questions asked on the way.

The form is data (content/forms/*.yaml, flows/form.py). Which form is being filled in is `state.form` (None:
the support request). The summary, edit, declaration and submit steps are in flows/form_review.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flows.answering import answer_question, answer_suggestion, faq_confident, is_question
from flows.choices import chosen_number
from flows.events import DraftDiscarded
from flows.form import CONDITION_TESTS, FieldKind, FormDefinition, FormField
from flows.messages import Expect, Inbound, Option
from flows.turn import Mode, Turn
from flows.validators import VALIDATORS, Invalid
from locales import Translator


def form_of(turn: Turn) -> FormDefinition:
    """The form being filled in."""
    return turn.ctx.form_named(turn.state.form)


def text_of(turn: Turn, key: str) -> str:
    """A form's text: inline in its YAML file, or a message key."""
    inline = form_of(turn).text(key, turn.state.lang)
    return inline if inline is not None else turn.t(key)


def applies(form_field: FormField, draft: dict) -> bool:
    """Whether a field is asked, given the answers so far (`when` in the form file)."""
    condition = form_field.when
    if condition is None:
        return True
    answer = draft.get(condition.field)
    if condition.test is not None:
        return answer is not None and CONDITION_TESTS[condition.test](answer)
    return answer == condition.equals


def asked_fields(form: FormDefinition, draft: dict) -> list[FormField]:
    return [f for f in form.fields if applies(f, draft)]


def start_form(turn: Turn, name: str | None) -> None:
    """Open a form from the menu (or a guide's button): an unfinished draft is offered first, then the
    consent when the form asks for it."""
    from flows.form_review import ask_resume
    from flows.support_request import ask_consent

    state = turn.state
    if state.draft:
        state.resume_to = {
            "mode": Mode.FORM.value,
            "step": state.step or first_unanswered(turn),
            "editing": False,
        }
        state.mode = Mode.RESUME
        ask_resume(turn)
        return
    state.form = name
    if form_of(turn).consent and not turn.ctx.consented:
        ask_consent(turn)
        return
    begin_form(turn)


def begin_form(turn: Turn) -> None:
    state, form = turn.state, form_of(turn)
    state.draft, state.editing = {}, False
    state.draft_started = turn.ctx.now.isoformat()
    state.mode = Mode.FORM
    first = form.fields[0]
    state.step = first.name
    turn.say_text(turn.t.n("form.intro", len(form.fields)), key="form.intro")
    prompt_field(turn, first)


def first_unanswered(turn: Turn) -> str | None:
    draft = turn.state.draft
    return next((f.name for f in asked_fields(form_of(turn), draft) if f.name not in draft), None)


def discard_draft(turn: Turn, reason: str) -> None:
    state = turn.state
    if state.draft:
        turn.events.append(DraftDiscarded(reason))
    state.draft, state.draft_started, state.step, state.editing, state.resume_to = {}, None, None, False, None
    state.missing, state.resubmits, state.form = [], None, None


def prompt_field(turn: Turn, form_field: FormField) -> None:
    t, form = turn.t, form_of(turn)
    options: list[Option] = []
    if form_field.kind == FieldKind.CHOICE:
        options = [Option(f"c.{choice.id}", text_of(turn, choice.label)) for choice in form_field.choices]
    elif form_field.kind == FieldKind.MULTI_CHOICE:
        picked = turn.state.draft.get(form_field.name) or []
        options = [
            Option(f"c.{c.id}", ("✓ " if c.id in picked else "") + text_of(turn, c.label))
            for c in form_field.choices
        ]
        options.append(Option("m.done", t("option.done")))
    elif form_field.kind == FieldKind.YES_NO:
        options = [Option("c.yes", t("option.yes")), Option("c.no", t("option.no"))]
    if not form_field.required:
        options.append(Option("form.skip", t("option.skip")))
    expect = Expect.ATTACHMENT if form_field.kind == FieldKind.ATTACHMENT else None
    position = [f.name for f in form.fields].index(form_field.name) + 1
    progress = t("form.progress", n=t.number(position), total=t.number(len(form.fields)))
    prompt = text_of(turn, form_field.prompt)
    if form_field.kind == FieldKind.MULTI_CHOICE:
        prompt += "\n" + t("form.multi_hint")
    elif form_field.kind == FieldKind.DATE:
        prompt += "\n" + t("date.hint")
    turn.say_text(f"{progress}\n{prompt}", key=form_field.prompt, options=tuple(options), expect=expect)


def _pick(turn: Turn, form_field: FormField, choice: str | None) -> bool:
    """A multi-choice field: a choice toggles, «تم» finishes. True when the answer is complete."""
    picked = list(turn.state.draft.get(form_field.name) or [])
    if choice == "m.done":
        if picked:
            return True
        turn.say("error.pick_one_at_least")
    elif choice is not None and choice.startswith("c."):
        option = choice[2:]
        picked = [p for p in picked if p != option] if option in picked else [*picked, option]
        order = [c.id for c in form_field.choices]
        turn.state.draft[form_field.name] = sorted(picked, key=order.index)
    else:
        turn.say("error.choose_option")
    prompt_field(turn, form_field)
    return False


def on_form(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    from flows.engine import reprompt

    state = turn.state
    form_field = form_of(turn).field(state.step or "")
    if form_field is None:  # the form changed under a saved draft
        state.step = first_unanswered(turn)
        reprompt(turn)
        return
    if choice is not None and choice.startswith("faq."):
        answer_suggestion(turn, choice)
        turn.say("form.back_to_step")
        prompt_field(turn, form_field)
        return
    if choice == "form.back":
        prompt_field(turn, form_field)
        return
    if choice is None and chosen_number(text) is not None and _suggestions_showing(turn):
        offered = tuple(Option(option_id, label) for option_id, label in turn.state.offered)
        turn.say("error.choose_option")
        turn.say_text(turn.t("faq.did_you_mean"), key="faq.did_you_mean", options=offered)
        return
    if choice == "form.skip" and not form_field.required:
        state.draft.pop(form_field.name, None)
        advance(turn, form_field)
        return

    value: Any
    if form_field.kind == FieldKind.ATTACHMENT:
        if not inbound.attachments:
            if text and is_question(turn, text):
                _question_in_form(turn, text, form_field)
                return
            turn.say("error.attachment_expected")
            prompt_field(turn, form_field)
            return
        value = inbound.attachments[0]
    elif form_field.kind == FieldKind.MULTI_CHOICE:
        if choice is None and text and is_question(turn, text):
            _question_in_form(turn, text, form_field)
            return
        if not _pick(turn, form_field, choice):
            return
        value = state.draft.pop(form_field.name)
    elif form_field.kind in (FieldKind.CHOICE, FieldKind.YES_NO):
        if choice is None or not choice.startswith("c."):
            if text and is_question(turn, text):
                _question_in_form(turn, text, form_field)
                return
            if text:
                turn.say("error.choose_option")
            else:
                turn.say("error.empty")
            prompt_field(turn, form_field)
            return
        value = choice[2:]
    else:
        if inbound.attachments and not text:
            turn.say("error.text_expected")
            prompt_field(turn, form_field)
            return
        value = text
        if form_field.kind == FieldKind.DATE:
            from flows.date_picker import picked

            handled, value = picked(turn, form_field, text, choice)
            if handled:
                return

    outcome = VALIDATORS[form_field.validator](value, state.draft)
    if isinstance(outcome, Invalid):
        if isinstance(value, str) and value and is_question(turn, value):
            _question_in_form(turn, value, form_field)
            return
        params = {k: _param(turn, v) for k, v in outcome.params.items()}
        if outcome.count is not None:
            turn.say_n(outcome.error_key, outcome.count, **params)
        else:
            turn.say(outcome.error_key, **params)
        prompt_field(turn, form_field)
        return
    if isinstance(value, str) and is_question(turn, value) and faq_confident(turn, value):
        _question_in_form(turn, value, form_field)
        return
    state.draft[form_field.name] = outcome.value
    advance(turn, form_field)


def _param(turn: Turn, value: Any) -> Any:
    return turn.t.number(value) if isinstance(value, int) else value


def _question_in_form(turn: Turn, text: str, form_field: FormField) -> None:
    """A question asked in the middle of the form: answer it, then ask the same field again. A list of
    suggestions stays the newest message, so that its numbers choose a suggestion, not the field's answer."""
    answer_question(turn, text)
    if turn.messages and turn.messages[-1].key == "faq.did_you_mean":
        turn.add_option(Option("form.back", turn.t("form.back_to_question")))
        return
    turn.say("form.back_to_step")
    prompt_field(turn, form_field)


def _suggestions_showing(turn: Turn) -> bool:
    return any(entry[0].startswith("faq.") for entry in turn.state.offered)


def advance(turn: Turn, answered: FormField) -> None:
    from flows.form_review import show_summary

    state, form = turn.state, form_of(turn)
    if state.missing:
        remaining = [name for name in state.missing if name != answered.name and name not in state.draft]
        state.missing = [name for name in state.missing if name != answered.name]
        if remaining:
            state.step = remaining[0]
            prompt_field(turn, form.field(remaining[0]))  # type: ignore[arg-type]
            return
        show_summary(turn)
        return
    if state.editing:
        state.editing = False
        show_summary(turn)
        return
    following = form.next_after(answered.name)
    while following is not None and (following.name in state.draft or not applies(following, state.draft)):
        following = form.next_after(following.name)
    if following is None:
        show_summary(turn)
        return
    state.step = following.name
    prompt_field(turn, following)


def display_value(
    form_field: FormField, value: Any, t: Translator, form: FormDefinition | None = None
) -> str:
    def label(key: str) -> str:
        inline = form.text(key, t.lang) if form is not None else None
        return inline if inline is not None else t(key)

    if value is None:
        return t("summary.empty")
    if form_field.kind in (FieldKind.CHOICE, FieldKind.MULTI_CHOICE):
        labels = {c.id: label(c.label) for c in form_field.choices}
        values = value if isinstance(value, list) else [value]
        return "، ".join(labels.get(str(v), str(v)) for v in values)
    if form_field.kind == FieldKind.YES_NO:
        return t("option.yes") if value == "yes" else t("option.no")
    if form_field.kind == FieldKind.DATE:
        try:
            return t.date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if form_field.kind == FieldKind.ATTACHMENT:
        return t("summary.file_received", name=value.get("name") or value.get("mime", ""))
    if isinstance(value, int):
        return t.number(value)
    # Phone numbers, IDs and e-mail addresses: keep left-to-right inside Arabic text.
    return (
        f"\u2068{value}\u2069"
        if form_field.validator in ("saudi_mobile", "saudi_national_id") or form_field.kind == FieldKind.EMAIL
        else str(value)
    )
