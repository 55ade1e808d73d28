"""What is special about the support request: one open request at a time, the consent before the form, the
confirmation with the decision date, and going back into the form when staff ask for more information."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from flows.events import ConsentGiven
from flows.form_review import ask_resume
from flows.form_runner import begin_form, first_unanswered
from flows.menu import menu
from flows.messages import Expect, Inbound, Option, Outbound
from flows.status import OPEN_STATUSES, local, requests_of, status_words
from flows.turn import Context, Mode, State, Turn
from locales import translator


def start_application(turn: Turn) -> None:
    state, ctx = turn.state, turn.ctx
    open_requests = [r for r in requests_of(ctx) if r.status in OPEN_STATUSES]
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
            "step": state.step or first_unanswered(turn),
            "editing": False,
        }
        state.mode = Mode.RESUME
        ask_resume(turn)
        return
    if not ctx.consented:
        ask_consent(turn)
        return
    begin_form(turn)


def ask_consent(turn: Turn) -> None:
    turn.state.mode = Mode.CONSENT
    options = (turn.option("consent.yes", "consent.agree"), turn.option("consent.no", "consent.decline"))
    turn.say("consent.text", options=options)


def on_consent(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    if choice == "consent.yes":
        turn.events.append(ConsentGiven())
        begin_form(turn)
    elif choice == "consent.no":
        turn.say("consent.declined")
        menu(turn, greet=False)
    else:
        turn.say("error.choose_option")
        ask_consent(turn)


def submitted_messages(
    reference: str, due_at: datetime, lang: str, ctx: Context, resubmitted: bool
) -> list[Outbound]:
    """The confirmation after the service has stored the request and given it a reference."""
    t = translator(lang)
    due = t.date(local(due_at, ctx))
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
