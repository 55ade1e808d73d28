"""What is special about volunteering: a minor (under 18 on the day they register) needs a guardian's
approval, which the form asks for and records (the staff's side is flows/form_desk.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flows.field_validators import CONDITION_TESTS, age_on, today
from flows.validators import Invalid, Result, Valid, validator

ADULT_AGE = 18


def is_minor(birth: Any) -> bool:
    try:
        return age_on(date.fromisoformat(str(birth)), today()) < ADULT_AGE
    except ValueError:
        return False


CONDITION_TESTS["minor"] = is_minor


@validator("guardian_approval")
def guardian_approval(value: str, _answers: Mapping[str, Any]) -> Result:
    if value == "yes":
        return Valid("yes")
    return Invalid("error.guardian_needed") if value == "no" else Invalid("error.choose_option")
