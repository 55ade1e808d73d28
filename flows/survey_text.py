"""Rating words and parsing a rating button's id (kept apart from flows/survey.py, which needs the database)."""

from __future__ import annotations

from locales import N_

# In rising order, so that an option's number is its number of stars: typing «5» means five stars.
RATING_WORDS = {
    1: N_("survey.rating.1"),
    2: N_("survey.rating.2"),
    3: N_("survey.rating.3"),
    4: N_("survey.rating.4"),
    5: N_("survey.rating.5"),
}


def parse_rating(option: str) -> tuple[str, str] | None:
    """'rate.<token>.<value>' -> (token, value as pressed); None when it is not a rating button."""
    parts = option.split(".")
    if len(parts) != 3 or parts[0] != "rate" or not parts[1]:
        return None
    return parts[1], parts[2]
