"""Cleaning what people type before anything reads it."""

from __future__ import annotations

import re
import unicodedata

# Arabic-Indic (U+0660..) and Extended Arabic-Indic (U+06F0..) digits: int() accepts them, [0-9] does not.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Bidi controls and zero-width characters that phones insert around numbers and mixed-direction text.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u061c\u00ad]")
_SPACES = re.compile(r"\s+")
_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_LETTERS = str.maketrans("أإآٱىة", "اااايه")

MAX_TEXT_LENGTH = 4000


def ascii_digits(text: str) -> str:
    return text.translate(_DIGITS)


def clean(text: str | None) -> str:
    """NFC, no invisible marks, single spaces, trimmed. Digits are left as typed (see ascii_digits)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def fold(text: str) -> str:
    """A loose form for matching commands and option labels: case, hamza/alef forms and digits folded."""
    text = ascii_digits(clean(text)).casefold()
    text = _MARKS.sub("", text)  # harakat and tatweel
    return text.translate(_LETTERS)


def has_letters(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)
