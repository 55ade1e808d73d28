"""Greetings and thanks sent as a whole message («السلام عليكم», «هلا والله», «شكرًا، ما قصرتوا», "hi", "thanks a
lot"): answered in kind, with the menu, and never taken as a question (the guides have no answer to «السلام عليكم»,
so it would be forwarded to staff as an unanswered question)."""

from __future__ import annotations

import re
from typing import Literal

from flows.choices import words
from locales import N_

Courtesy = Literal["salam", "hello", "thanks", "ack"]
REPLIES: dict[Courtesy, str] = {  # the answer in kind; the menu follows it
    "salam": N_("courtesy.salam"),
    "hello": N_("courtesy.hello"),
    "thanks": N_("courtesy.thanks"),
    "ack": N_("courtesy.ack"),
}

_SALAM = frozenset({"سلام", "salam", "salaam", "assalam", "assalamu", "asalam", "asalamu", "slm"})
_HELLO = frozenset(
    {
        "مرحبا", "مرحبه", "مراحب", "مرحبتين", "هلا", "ياهلا", "هلو", "هلاو", "اهلا", "اهلين", "هاي", "صباح",
        "مساء", "مسا", "hi", "hello", "hey", "hiya", "greetings",
    }
)  # fmt: skip
_THANKS = frozenset(
    {
        "شكرا", "شكر", "مشكور", "مشكوره", "مشكورين", "يعطيك", "يعطيكم", "جزاك", "جزاكم", "يجزاك", "يجزاكم",
        "تسلم", "تسلمين", "تسلمون", "قصرت", "قصرتي", "قصرتو", "قصرتوا", "thanks", "thank", "thx", "ty", "tnx",
        "cheers",
    }
)  # fmt: skip
_ACK = frozenset(
    {
        "تمام", "طيب", "اوكي", "اوك", "اوكيه", "حاضر", "ابشر", "زين", "ماشي", "واضح", "فهمت", "ok", "okay", "okey",
        "k", "kk", "alright", "fine", "great", "cool", "noted", "got", "understood",
    }
)  # fmt: skip
# Emoji that say the same with no word: a thumbs-up is an «OK», folded hands or a rose a thanks.
_EMOJI = {
    "👍": "ack",
    "👌": "ack",
    "✅": "ack",
    "🙏": "thanks",
    "🌹": "thanks",
    "💐": "thanks",
    "❤": "thanks",
}
_MODIFIERS = frozenset(
    "\ufe0f\u200d\U0001f3fb\U0001f3fc\U0001f3fd\U0001f3fe\U0001f3ff"
)  # variation, skin tones
# Words that go with them and say nothing else.
_ALONG = frozenset(
    {
        "عليكم", "عليك", "ورحمه", "رحمه", "الله", "وبركاته", "بركاته", "خير", "الخير", "نور", "النور", "والله",
        "بك", "بكم", "فيك", "فيكم", "جميعا", "يا", "اخوي", "اختي", "لك", "لكم", "جزيلا", "كثير", "عافيه", "ما",
        "الف", "و", "وعليكم", "there", "all", "everyone", "good", "morning", "evening", "afternoon", "alaikum",
        "alaykum", "aleikum", "alaikom", "wa", "you", "so", "much", "very", "a", "lot", "alot", "again", "it",
    }
)  # fmt: skip
_REPEATS = re.compile(r"(.)\1{2,}")  # «هلااااا», "hiiii"


def courtesy(text: str) -> Courtesy | None:
    """Which courtesy the whole message is, or None when it says anything else."""
    typed = [_REPEATS.sub(r"\1", word) for word in words(text)]
    if not typed:
        marks = {_EMOJI.get(ch) for ch in text if not ch.isspace() and ch not in _MODIFIERS}
        return marks.pop() if len(marks) == 1 and None not in marks else None  # type: ignore[return-value]
    if len(typed) > 8 or any(w not in _SALAM | _HELLO | _THANKS | _ACK | _ALONG for w in typed):
        return None
    for kind, vocabulary in (("thanks", _THANKS), ("salam", _SALAM), ("hello", _HELLO), ("ack", _ACK)):
        if any(w in vocabulary for w in typed):
            return kind  # type: ignore[return-value]
    return None
