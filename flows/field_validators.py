"""Validators of the newer field kinds (dates, e-mail, yes/no, several choices) and of short generic answers,
registered beside those of flows/validators.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from hijridate import Hijri

from flows.text import ascii_digits, clean, has_letters
from flows.validators import Invalid, Result, Valid, _whole_number, validator

HIJRI_MARKS = re.compile(r"\s*(هـ|ه|h|ah|hijri|هجري|هجرية)\.?\s*$", re.IGNORECASE)
GREGORIAN_MARKS = re.compile(r"\s*(م|g|ad|ميلادي|ميلادية)\.?\s*$", re.IGNORECASE)
_PARTS = re.compile(r"^(\d{1,4})\s*[/\-.\s]\s*(\d{1,2})\s*[/\-.\s]\s*(\d{1,4})$")


# Named checks a field's `when` can use in a form file (flows/volunteer.py adds `minor`).
CONDITION_TESTS: dict[str, Callable[[Any], bool]] = {}


def today() -> date:
    return datetime.now(UTC).date()


def parse_date(value: str) -> date | None:
    """A date typed as day/month/year or year-month-day, Hijri (year below 1600, or marked «هـ») or
    Gregorian; Arabic-Indic digits accepted. None when it is not a real date."""
    text = ascii_digits(clean(value)).replace("٫", "/").replace("،", "/")
    hijri = bool(HIJRI_MARKS.search(text))
    text = GREGORIAN_MARKS.sub("", HIJRI_MARKS.sub("", text))
    match = _PARTS.match(text)
    if not match:
        return None
    first, month, last = (int(part) for part in match.groups())
    year, day = (first, last) if len(match.group(1)) == 4 else (last, first)
    if year < 100:
        return None
    hijri = hijri or year < 1600
    try:
        if hijri:
            converted = Hijri(year, month, day).to_gregorian()
            return date(converted.year, converted.month, converted.day)
        return date(year, month, day)
    except (ValueError, OverflowError):
        return None


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@validator("date")
def any_date(value: str, _answers: Mapping[str, Any]) -> Result:
    if not clean(value):
        return Invalid("error.empty")
    parsed = parse_date(value)
    if parsed is None:
        return Invalid("error.date")
    return Valid(parsed.isoformat())


@validator("birth_date")
def birth_date(value: str, _answers: Mapping[str, Any]) -> Result:
    if not clean(value):
        return Invalid("error.empty")
    parsed = parse_date(value)
    if parsed is None:
        return Invalid("error.date")
    age = age_on(parsed, today())
    if parsed > today() or age < 10 or age > 100:
        return Invalid("error.birth_date")
    return Valid(parsed.isoformat())


@validator("email")
def email(value: str, _answers: Mapping[str, Any]) -> Result:
    text = ascii_digits(clean(value))
    if not text:
        return Invalid("error.empty")
    try:
        checked = validate_email(
            text, check_deliverability=False
        )  # no network: the form only checks spelling
    except EmailNotValidError:
        return Invalid("error.email")
    return Valid(checked.normalized)


@validator("yes_no")
def yes_no(value: str, _answers: Mapping[str, Any]) -> Result:
    return Valid(value) if value in ("yes", "no") else Invalid("error.choose_option")


@validator("choices")
def choices(value: Any, _answers: Mapping[str, Any]) -> Result:
    if not isinstance(value, list) or not value:
        return Invalid("error.pick_one_at_least")
    return Valid(list(value))


@validator("short_text")
def short_text(value: str, _answers: Mapping[str, Any]) -> Result:
    text = clean(value)
    if not text:
        return Invalid("error.empty")
    if len(text) > 200:
        return Invalid("error.too_long", count=200)
    if not has_letters(text):
        return Invalid("error.text_letters")
    return Valid(text)


@validator("long_text")
def long_text(value: str, _answers: Mapping[str, Any]) -> Result:
    text = clean(value)
    if not text:
        return Invalid("error.empty")
    if len(text) > 2000:
        return Invalid("error.too_long", count=2000)
    if len(text) < 5 or not has_letters(text):
        return Invalid("error.text_too_short")
    return Valid(text)


@validator("hours")
def hours(value: str, _answers: Mapping[str, Any]) -> Result:
    return _whole_number(value, 1, 10000)


@validator("people")
def people(value: str, _answers: Mapping[str, Any]) -> Result:
    return _whole_number(value, 1, 20)
