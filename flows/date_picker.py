"""A date field's picker where the channel has buttons: type the year alone (Hijri or Gregorian), choose the
month from buttons, then type the day. Typing the whole date at once works everywhere."""

from __future__ import annotations

import re

from babel.dates import get_month_names
from hijridate import Hijri

from flows.form import FormField
from flows.messages import Option
from flows.text import ascii_digits, clean
from flows.turn import Turn

MONTH_PREFIX = "dm."
_YEAR = re.compile(r"^\d{4}$")
_DAY = re.compile(r"^\d{1,2}$")


def _months(year: int, lang: str) -> list[str]:
    if year < 1600:  # Hijri (Umm al-Qura)
        return [Hijri(year, month, 1).month_name(lang) for month in range(1, 13)]
    names = get_month_names("wide", locale=lang)
    return [names[month] for month in range(1, 13)]


def picked(turn: Turn, form_field: FormField, text: str, choice: str | None) -> tuple[bool, str]:
    """(handled, value): handled when this step asked for the month or the day; otherwise the value to check
    (the typed date, or the one the year, month and day make)."""
    draft, t = turn.state.draft, turn.t
    year_key, month_key = f"_{form_field.name}.year", f"_{form_field.name}.month"
    typed = ascii_digits(clean(text))
    if choice is not None and choice.startswith(MONTH_PREFIX) and year_key in draft:
        draft[month_key] = int(choice.removeprefix(MONTH_PREFIX))
        turn.say("date.day_prompt")
        return True, ""
    if _YEAR.match(typed) and 1300 <= int(typed) <= 2100:
        year = int(typed)
        draft[year_key] = year
        draft.pop(month_key, None)
        options = tuple(
            Option(f"{MONTH_PREFIX}{number}", name)
            for number, name in enumerate(_months(year, t.lang), start=1)
        )
        turn.say("date.pick_month", options=options, year=t.number(year) if year >= 1600 else str(year))
        return True, ""
    if _DAY.match(typed) and year_key in draft and month_key not in draft and 1 <= int(typed) <= 12:
        draft[month_key] = int(typed)  # the month's number typed instead of pressed
        turn.say("date.day_prompt")
        return True, ""
    if _DAY.match(typed) and year_key in draft and month_key in draft:
        year, month = draft.pop(year_key), draft.pop(month_key)
        return False, f"{int(typed)}/{month}/{year}"
    draft.pop(year_key, None)
    draft.pop(month_key, None)
    return False, text
