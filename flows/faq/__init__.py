"""FAQ understanding: the association's guides as data, Arabic/English normalisation and a hybrid ranker.

Channel-free: the only I/O is reading the guide files in `load_guides` and, when the caller names one,
the embedding cache file of `FaqIndex.build`.
"""

from flows.faq.content import ACTIONS, FaqEntry, GuideError, load_guides
from flows.faq.normalize import detect_language, gap_key, looks_like_question, normalize_arabic
from flows.faq.ranker import FaqIndex, FaqResult, RankerSettings

__all__ = [
    "ACTIONS",
    "FaqEntry",
    "FaqIndex",
    "FaqResult",
    "GuideError",
    "RankerSettings",
    "detect_language",
    "gap_key",
    "load_guides",
    "looks_like_question",
    "normalize_arabic",
]
