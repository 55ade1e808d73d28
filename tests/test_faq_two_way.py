"""Issue 13: two-way matching, opposites that must not be merged, the "likely" tier and its yes/no buttons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flows.faq import FaqEntry, FaqIndex, load_guides

GUIDES = Path(__file__).resolve().parent.parent / "content" / "guides"


def _entry(entry_id: str, ar: list[str], en: list[str]) -> FaqEntry:
    return FaqEntry(
        id=entry_id,
        guide="health",
        guide_title={"ar": "صحة", "en": "Health"},
        section={"ar": "عام", "en": "General"},
        questions={"ar": ar, "en": en},
        answer={"ar": f"جواب {entry_id}", "en": f"answer {entry_id}"},
        action=None,
        sample=False,
        file="health.yaml",
    )


@pytest.fixture(scope="module")
def siblings() -> list[FaqEntry]:
    return [
        _entry(
            "high-pressure",
            ["ما علاج ارتفاع ضغط الدم", "ضغطي مرتفع ماذا افعل"],
            ["what to do about high blood pressure"],
        ),
        _entry(
            "low-pressure",
            ["ما علاج هبوط ضغط الدم", "ضغطي منخفض ماذا افعل"],
            ["what to do about low blood pressure"],
        ),
        _entry("accepted", ["ماذا افعل بعد قبول طلبي"], ["what happens after my request is accepted"]),
        _entry("rejected", ["ماذا افعل بعد رفض طلبي"], ["what happens after my request is rejected"]),
        _entry("volunteer", ["كيف اتطوع معكم"], ["how do I volunteer with you"]),
        _entry("hours", ["ما هي مواعيد الدوام"], ["what are your opening hours"]),
    ]


@pytest.mark.parametrize(
    ("question", "want", "never"),
    [
        ("عندي هبوط في ضغط الدم", "low-pressure", "high-pressure"),
        ("عندي ارتفاع في ضغط الدم", "high-pressure", "low-pressure"),
        ("my blood pressure is low", "low-pressure", "high-pressure"),
        ("انرفض طلبي وش اسوي", "rejected", "accepted"),
        ("my application was accepted, what now", "accepted", "rejected"),
    ],
)
def test_opposites_are_not_merged(siblings, question, want, never):
    index = FaqIndex.build(siblings, embeddings=False)
    signals = index.signals(question)
    assert index.entries[signals.order[0]].id == want
    result = index.query(question)
    assert result.entry is None or result.entry.id != never


def test_an_entry_about_the_opposite_side_is_never_answered(siblings):
    # Only the "high" entry exists: a question about low pressure must not get it as an answer.
    only_high = [e for e in siblings if e.id != "low-pressure"]
    index = FaqIndex.build(only_high, embeddings=False)
    signals = index.signals("عندي هبوط ضغط الدم")
    assert signals.opposite
    assert index.query("عندي هبوط ضغط الدم").status in ("unsure", "none")


def test_two_way_coverage_counts_the_entries_words_missing_from_the_question(siblings):
    index = FaqIndex.build(siblings, embeddings=False)
    general = index.signals("ضغط الدم")
    specific = index.signals("ما علاج ارتفاع ضغط الدم")
    # The short general question has all its words in the entry (coverage) but not the entry's (reverse).
    assert general.coverage == pytest.approx(1.0)
    assert general.reverse < specific.reverse
    assert specific.reverse == pytest.approx(1.0)


@pytest.fixture(scope="module")
def guides() -> list[FaqEntry]:
    return load_guides(GUIDES)


def test_a_likely_answer_carries_the_entry_and_the_other_suggestions(guides):
    index = FaqIndex.build(guides, embeddings=False)
    question = "متى يطلع الرد على طلبي"
    settings = index.settings
    probability = index.query(question).score
    # Thresholds that put this question between "likely" and "confident".
    likely = replace(
        settings.lexical, confident_at=min(1.0, probability + 0.01), likely_at=probability - 0.01
    )
    result = FaqIndex.build(guides, replace(settings, lexical=likely), embeddings=False).query(question)
    assert result.status == "likely"
    assert result.entry.id == "committee-timeline"
    assert result.entry.id not in {s.id for s in result.suggestions}
    assert 1 <= len(result.suggestions) <= 2


def test_the_char_tfidf_matches_scikit_learn():
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    import numpy as np

    from flows.faq.vectors import CharTfidf

    documents = [
        ["متي", "يصدر", "الرد"],
        ["كيف", "اقدم", "طلب"],
        ["a", "go", "longer"],
        ["طلب", "طلب", "الرد"],
    ]
    ours = CharTfidf(documents, (2, 5)).matrix.toarray()
    vectorizer = sklearn_text.TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    theirs = vectorizer.fit_transform([" ".join(words) for words in documents]).toarray()
    # Same values up to the order of the columns: compare each row's sorted weights and the Gram matrix.
    assert np.allclose(np.sort(ours, axis=1), np.sort(theirs, axis=1), atol=1e-6)
    assert np.allclose(ours @ ours.T, theirs @ theirs.T, atol=1e-6)
