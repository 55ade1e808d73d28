"""Which offered option a typed message means: its number, its words, or a unique near match.

Every list the assistant prints can be answered by typing, on every channel: the option's number (ASCII or
Arabic-Indic digits), its label in any spelling the folding forgives (hamza, taa marbuta, harakat, case,
emoji), a unique part of it («سكن» for «دعم سكني»), or a unique near spelling (rapidfuzz). A loose match is
confirmed in the reply (see `Match.exact`), so a wrong guess is seen at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz

from flows.text import fold, has_letters

# Words that end a terminal chat. Elsewhere they are not questions: never counted as unanswered ones.
EXIT_WORDS = frozenset(fold(word) for word in ("خروج", "اغلاق", "إغلاق", "quit", "exit", "/quit", "/exit"))

# The labels of the options the flows offer besides the menu's entries (message keys).
OPTION_KEYS = (
    "option.menu",
    "option.unclear",
    "option.skip",
    "option.back",
    "consent.agree",
    "consent.decline",
    "resume.continue",
    "resume.restart",
    "summary.send",
    "summary.edit",
    "summary.cancel",
    "declaration.confirm",
    "declaration.back",
    "cancel.yes",
    "cancel.no",
    "faq.none_of_these",
    "form.back_to_question",
)

_NUMBER = re.compile(r"^[^\w]*(\d{1,3})[^\w]*$")
_MAX_WORDS = 4  # longer text is a sentence or a question, never a loose choice
_WORD_SCORE = 80  # rapidfuzz ratio for one misspelt word (4 letters or more)
_TEXT_SCORE = 80  # ... and for the whole text against the whole label
_MARGIN = 10  # the best near label must beat the next one by this much


@dataclass(frozen=True)
class Match:
    option_id: str
    label: str
    exact: bool  # the number or the whole label: no need to say what was understood


def chosen_number(text: str) -> int | None:
    """`3`, `٣`, `3.` or `(3)`: the number of an option."""
    found = _NUMBER.match(fold(text))
    return int(found.group(1)) if found and found.group(1).isascii() else None


def words(text: str) -> tuple[str, ...]:
    """Folded words without punctuation, symbols or the article: «الـسكن ⭐» -> ("سكن",)."""
    folded = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in fold(text))
    result = []
    for word in folded.split():
        if word.startswith("وال") and len(word) > 5:
            word = word[3:]
        elif word.startswith("ال") and len(word) > 4:
            word = word[2:]
        result.append(word)
    return tuple(result)


def _word_matches(typed: str, label_word: str) -> bool:
    if typed == label_word:
        return True
    if len(typed) >= 3 and label_word.startswith(typed):
        return True
    if len(label_word) >= 3 and typed.startswith(label_word) and len(typed) - len(label_word) <= 2:
        return True
    return len(typed) >= 4 and fuzz.ratio(typed, label_word) >= _WORD_SCORE


def match_option(
    text: str, offered: Sequence[Sequence[str]], *, numbers: bool = True, loose: bool = True
) -> Match | None:
    """The option of `offered` ([[id, label], ...], in the order shown) that `text` names, if exactly one."""
    if not text or not offered:
        return None
    number = chosen_number(text)
    if number is not None:
        if numbers and 1 <= number <= len(offered):
            option_id, label = offered[number - 1][0], offered[number - 1][1]
            return Match(option_id, label, exact=True)
        return None
    typed = words(text)
    if not typed:
        return None
    labelled = [(option[0], option[1], words(option[1])) for option in offered]
    for option_id, label, label_words in labelled:
        if label_words == typed:
            return Match(option_id, label, exact=True)
    if not loose or len(typed) > _MAX_WORDS or "?" in text or "؟" in text:
        return None
    partial = [
        (option_id, label)
        for option_id, label, label_words in labelled
        if label_words and all(any(_word_matches(w, lw) for lw in label_words) for w in typed)
    ]
    if len(partial) == 1:
        return Match(*partial[0], exact=False)
    if partial:
        return None  # «دعم» is in several labels: ask rather than guess
    joined = " ".join(typed)
    if len(joined) < 4:
        return None
    scored = sorted(
        (
            (fuzz.ratio(joined, " ".join(label_words)), option_id, label)
            for option_id, label, label_words in labelled
        ),
        reverse=True,
    )
    best = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0
    if best[0] >= _TEXT_SCORE and best[0] - runner_up >= _MARGIN:
        return Match(best[1], best[2], exact=False)
    return None


@cache
def _label_index(entries: tuple[tuple[str, str], ...]) -> dict[tuple[str, ...], str]:
    return {words(label): option_id for option_id, label in entries}


def label_command(text: str, entries: Iterable[tuple[str, str]]) -> str | None:
    """The id of a navigation option whose whole label was typed, wherever the contact is."""
    typed = words(text)
    return _label_index(tuple(entries)).get(typed) if typed else None


def worth_recording(text: str, known: Iterable[str] = ()) -> bool:
    """Whether unanswered text belongs in `faq gaps`: letters, and not an option, command or exit word."""
    if not has_letters(text):
        return False
    folded = fold(text)
    if folded in EXIT_WORDS or folded.lstrip("/") in EXIT_WORDS or folded.startswith("/"):
        return False
    typed = words(text)
    return bool(typed) and all(typed != words(word) for word in known)
