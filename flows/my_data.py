"""«بياناتي» / "My data": the person's rights over what the association keeps about them (issue 15).

From the menu (or «بياناتي», "my data", /mydata typed anywhere): see a masked summary, get a copy (files on
the channel), ask for a correction (which field, then the correct value), ask for the data to be deleted, or
withdraw consent. Deleting and withdrawing say what must be kept and why, and ask before. The step only
decides and asks; the service applies a RightsAsked event (flows/rights.py: the summary, the copy, the
rights request with its reference and due date, the staff card).
"""

from __future__ import annotations

from flows.events import RightsAsked
from flows.form import FieldKind
from flows.messages import Inbound, Option
from flows.turn import Mode, Turn
from locales import N_

ACTIONS = (
    ("md.see", N_("mydata.option.see")),
    ("md.copy", N_("mydata.option.copy")),
    ("md.correct", N_("mydata.option.correct")),
    ("md.erase", N_("mydata.option.erase")),
    ("md.withdraw", N_("mydata.option.withdraw")),
)
FIELD_PREFIX = "mdf."
OTHER_FIELD = "other"
OTHER_OPTION = FIELD_PREFIX + OTHER_FIELD
MAX_CORRECTION = 500


def my_data_menu(turn: Turn) -> None:
    turn.state.mode, turn.state.step = Mode.MY_DATA, None
    menu = turn.option("menu.main", "option.menu")
    options = (*(turn.option(option_id, key) for option_id, key in ACTIONS), menu)
    turn.say("mydata.menu", options=options)


def correctable_fields(turn: Turn) -> tuple[Option, ...]:
    """The request form's fields a person can name (not the files), then «something else»."""
    fields = tuple(
        Option(f"{FIELD_PREFIX}{f.name}", turn.ctx.form.text(f.label, turn.state.lang) or turn.t(f.label))
        for f in turn.ctx.form.fields
        if f.kind != FieldKind.ATTACHMENT
    )
    return fields + (turn.option(OTHER_OPTION, "mydata.field.other"),)


def field_label(turn: Turn, name: str) -> str:
    if name == OTHER_FIELD:
        return turn.t("mydata.field.other")
    found = turn.ctx.form.field(name)
    if found is None:
        return name
    return turn.ctx.form.text(found.label, turn.state.lang) or turn.t(found.label)


def on_my_data(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    if choice == "md.see":
        turn.events.append(RightsAsked("see"))
    elif choice == "md.copy":
        turn.events.append(RightsAsked("copy"))
    elif choice == "md.correct":
        state.mode = Mode.MY_DATA_FIELD
        turn.say("mydata.correct.which", options=correctable_fields(turn))
    elif choice in ("md.erase", "md.withdraw"):
        _ask_confirm(turn, "erase" if choice == "md.erase" else "withdraw")
    else:
        turn.say("error.choose_option")
        my_data_menu(turn)


def on_field(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    if choice is None or not choice.startswith(FIELD_PREFIX):
        turn.say("error.choose_option", options=correctable_fields(turn))
        return
    name = choice.removeprefix(FIELD_PREFIX)
    turn.state.mode, turn.state.step = Mode.MY_DATA_VALUE, name
    turn.say("mydata.correct.value", field=field_label(turn, name))


def on_value(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    name = state.step or OTHER_FIELD
    if not text:
        turn.say("mydata.correct.value", field=field_label(turn, name))
        return
    if len(text) > MAX_CORRECTION:
        turn.say_n("error.too_long", MAX_CORRECTION)
        turn.say("mydata.correct.value", field=field_label(turn, name))
        return
    value = _checked(turn, name, text)
    if value is None:
        turn.say("mydata.correct.value", field=field_label(turn, name))
        return
    state.mode, state.step = Mode.MENU, None
    turn.events.append(RightsAsked("correct", field=name, value=value))


def _checked(turn: Turn, name: str, text: str) -> str | None:
    """The correction as the form would take it (a wrong ID or mobile is explained); None when refused."""
    from flows.validators import VALIDATORS, Invalid

    found = turn.ctx.form.field(name)
    check = VALIDATORS.get(found.validator) if found is not None and found.validator else None
    if check is None or found is None or found.kind not in (FieldKind.TEXT, FieldKind.NUMBER):
        return text
    try:
        outcome = check(text, {})
    except Exception:  # noqa: BLE001 - a validator that needs other answers: staff read the text as it is
        return text
    if isinstance(outcome, Invalid):
        params = {k: turn.t.number(v) if isinstance(v, int) else v for k, v in outcome.params.items()}
        if outcome.count is not None:
            turn.say_n(outcome.error_key, outcome.count, **params)
        else:
            turn.say(outcome.error_key, **params)
        return None
    return str(outcome.value)


def _ask_confirm(turn: Turn, which: str) -> None:
    turn.state.mode, turn.state.step = Mode.MY_DATA_CONFIRM, which
    keep = turn.option("md.no", "mydata.keep")
    if which == "erase":
        yes = turn.option("md.yes", "mydata.erase.confirm")
        years = turn.t.n("years", turn.ctx.settings.retention_years)
        turn.say("mydata.erase.explain", options=(yes, keep), years=years)
    else:
        yes = turn.option("md.yes", "mydata.withdraw.confirm")
        turn.say("mydata.withdraw.explain", options=(yes, keep))


def on_confirm(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    state = turn.state
    which = state.step or "erase"
    if choice == "md.yes":
        state.mode, state.step = Mode.MENU, None
        turn.events.append(RightsAsked(which))
    elif choice == "md.no":
        turn.say("mydata.kept")
        my_data_menu(turn)
    else:
        turn.say("error.choose_option")
        _ask_confirm(turn, which)


def reprompt_my_data(turn: Turn) -> None:
    state = turn.state
    if state.mode == Mode.MY_DATA_FIELD:
        turn.say("mydata.correct.which", options=correctable_fields(turn))
    elif state.mode == Mode.MY_DATA_VALUE:
        turn.say("mydata.correct.value", field=field_label(turn, state.step or OTHER_FIELD))
    elif state.mode == Mode.MY_DATA_CONFIRM:
        _ask_confirm(turn, state.step or "erase")
    else:
        my_data_menu(turn)
