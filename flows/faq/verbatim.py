"""Questions the guides hold word for word: a question that names nothing («من انتم؟», "who are you?") is
never answered from the ranker's scores, but when the editors wrote exactly that question under an entry,
that entry is what it means (flows/faq/ranker.py FaqIndex.query)."""

from __future__ import annotations

from itertools import chain

from flows.faq.content import FaqEntry
from flows.faq.normalize import detect_language, normalize_arabic, normalize_english


def phrase_key(text: str) -> str:
    return normalize_arabic(text) if detect_language(text) == "ar" else normalize_english(text)


def verbatim_phrasings(entries: list[FaqEntry]) -> dict[str, int]:
    """Normalised phrasing (two words at least) -> its entry; a phrasing two entries share is neither's."""
    found: dict[str, int | None] = {}
    for number, entry in enumerate(entries):
        for text in chain(entry.questions["ar"], entry.questions["en"]):
            key = phrase_key(text)
            if len(key.split()) >= 2:
                found[key] = number if found.get(key, number) == number else None
    return {key: number for key, number in found.items() if number is not None}
