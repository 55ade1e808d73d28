"""FAQ understanding: the association's guides as data, Arabic/English normalisation and a hybrid ranker.

Channel-free: the only I/O is reading the guide files in `load_guides` and, when the caller names one,
the embedding cache file of `FaqIndex.build`. The names are imported on first use: `gap_key` and
`looks_like_question` (used on every message) must not pull in the ranker's numpy and scipy.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "ACTIONS": "flows.faq.content",
    "FaqEntry": "flows.faq.content",
    "GuideError": "flows.faq.content",
    "load_guides": "flows.faq.content",
    "detect_language": "flows.faq.normalize",
    "gap_key": "flows.faq.normalize",
    "looks_like_question": "flows.faq.normalize",
    "normalize_arabic": "flows.faq.normalize",
    "FaqIndex": "flows.faq.ranker",
    "FaqResult": "flows.faq.ranker",
    "RankerSettings": "flows.faq.decision",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'flows.faq' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
