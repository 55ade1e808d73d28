"""Typing slips: a word the guides never use, one edit (a letter missing, extra,
changed or two swapped) away from a word they do use, is read as that word ("documnts", "aply", "numbr",
"eligibilty"). Only towards words the guides' questions use, and only for words of four letters or more;
a four-letter word only when a letter is missing ("aply"): changing or adding a letter in a short word too
often makes another real word ("sent" is not "rent").

Arabic: five letters or more, and only a letter missing, one extra, or two swapped («ارسلو» for «ارسلوا»,
«بتويتر», «معاكم» for «معكم»); never a changed letter: Arabic roots are dense, and one changed letter is most
often another real word («الماضي» is not «المالي», «الاعاقه» is not «الاعاله»).

The lookup uses the "symmetric delete" idea: every known word is filed under itself and each form with one
letter deleted; a typed word looks up itself and its own one-deletion forms, so finding candidates costs a
handful of dictionary reads per unknown word whatever the index size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rapidfuzz.distance import OSA

SHORTEST = 4
ANY_SLIP = 5  # from this length any one slip is read; below it only a missing letter
ARABIC_SPELLING = {"shortest": 5, "any_slip": 5, "change": False}


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """Whether b is one insertion, deletion, substitution or swap of neighbours away from a (rapidfuzz's
    optimal string alignment distance, in C)."""
    return OSA.distance(a, b, score_cutoff=1) == 1


class Speller:
    def __init__(
        self, words: Iterable[str], shortest: int = SHORTEST, any_slip: int = ANY_SLIP, change: bool = True
    ) -> None:
        self.shortest, self.any_slip, self.change = shortest, any_slip, change
        self.counts = Counter(w for w in words if w.isalpha())
        self.filed: dict[str, list[str]] = {}
        for word in self.counts:
            if len(word) >= shortest - 1:
                for key in (word, *_deletes(word)):
                    self.filed.setdefault(key, []).append(word)

    def correct(self, word: str) -> str | None:
        """The known word this one is a slip of (the most used when several are), or None."""
        if len(word) < self.shortest or word in self.counts or not word.isalpha():
            return None
        candidates = {
            c
            for key in (word, *_deletes(word))
            for c in self.filed.get(key, ())
            if _one_edit(word, c)
            and (len(word) >= self.any_slip or len(c) == len(word) + 1)
            and (self.change or len(c) != len(word) or sorted(c) == sorted(word))
        }
        if not candidates:
            return None
        return max(sorted(candidates), key=lambda c: self.counts[c])
