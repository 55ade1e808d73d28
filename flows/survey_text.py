"""Parsing a rating button's id (kept apart from flows/survey.py, which needs the database)."""

from __future__ import annotations


def parse_rating(option: str) -> tuple[str, str] | None:
    """'rate.<token>.<value>' -> (token, value as pressed); None when it is not a rating button."""
    parts = option.split(".")
    if len(parts) != 3 or parts[0] != "rate" or not parts[1]:
        return None
    return parts[1], parts[2]
