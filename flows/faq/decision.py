"""What the FAQ decision sees and how it decides: the ranker's signals for one question, the calibrated model over
them, and the ranking weights and thresholds (fitted by `bench/faq_eval.py --calibrate`)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    """When to answer: a logistic model of "the best entry is right" (over `Signals.features()`) and its
    thresholds on that probability, fitted by `bench/faq_eval.py --calibrate` on the blind set's dev part."""

    # (bias, one weight per feature of Signals.features())
    coef: tuple[float, ...]
    confident_at: float
    likely_at: float  # between likely_at and confident_at: "likely"
    unsure_at: float  # below this: "none", no suggestions
    # The same for a question whose best entry the word ranker (BM25) does not put first: two rankers pointing
    # at different entries is the case for «did you mean one of these», so it has its own threshold.
    split_unsure_at: float | None = None  # None: unsure_at


@dataclass(frozen=True)
class RankerSettings:
    """Weights and thresholds. The ranking weights were fitted on the older labelled set; the two-way and
    opposite weights and both calibrations by `bench/faq_eval.py --calibrate` on the blind set's DEV part
    only (bench/data/blind/, writers A to E; never its TEST part)."""

    answer_weight_tfidf: float = 0.0
    answer_weight_bm25: float = 0.3
    entry_weight_tfidf: float = 0.5  # all of an entry's questions as one document, beside the best single one
    entry_weight_bm25: float = 1.0
    bm25_weight: float = 2.0
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    ngram_range: tuple[int, int] = (2, 5)
    # A stem the guides never use is looked up by its ISRI root («كمتطوعة» finds «تطوع») at this weight.
    root_fallback: float = 0.0
    # Sentence embeddings (multilingual USE, word level: flows/faq/embedding.py): the best cosine over the
    # entry's questions in either language, and the cosine with its answer, each z-scored and weighted into
    # the fusion. 0 turns the signal off (answers are not embedded when their weight is 0).
    embedding_weight: float = 4.0
    answer_weight_embedding: float = 0.5
    # The embeddings reorder only the entries whose lexical score (TF-IDF and BM25 z-scores plus the two-way
    # terms, unweighted by the embeddings) is within this of the lexical best (`fusion.order`; None: all).
    # Blind DEV top-1 94.0% with None, 95.2% lexical only, 96.4% at 1 and 2 (95.5% at 3); chosen with the
    # decision's features below on DEV out-of-fold confident-right (bench/faq_eval.py --calibrate).
    embedding_band: float | None = 2.0
    # Two-way matching: the share of an entry's distinctive words (IDF-weighted, over its closest phrasing)
    # found in the question, added to the fused score at this weight; an entry on the opposite side of a
    # question's word («رفض» for «قبول», "low" for "high") loses opposite_penalty.
    reverse_weight: float = 3.0
    opposite_penalty: float = 6.0
    # Confidence with the lexical signals only, and with the embeddings (their cosine and z-score, and whether
    # the lexical and embedding rankers agree and by how much each prefers the best entry, are more features).
    lexical: Calibration = Calibration(
        coef=(-1.536, 0.618, 1.125, 1.477, 1.7, 1.217, -1.786, -2.06, 1.053, -2.934, -2.558),
        confident_at=0.69,
        likely_at=0.59,
        unsure_at=0.51,
        split_unsure_at=0.18,
    )
    semantic: Calibration = Calibration(
        # bias, the lexical features' weights (the last: whole_lacking), then cosine, semantic_z, both_first,
        # lexical_gap, semantic_z_gap, and the lexical and the embeddings' gap to the closest topic not answered
        coef=(-1.372, 0.731, 1.279, 1.456, 0.289, 0.123, -1.693, -1.385, 0.922, -2.695, -2.098, 0.042)
        + (-0.423, 0.18, 1.101, -1.306, 1.116, 2.269),
        confident_at=0.61,
        likely_at=0.52,
        unsure_at=0.37,
        split_unsure_at=0.23,
    )

    def calibration(self, signals: Signals) -> Calibration:
        return self.lexical if signals.semantic is None else self.semantic


@dataclass(frozen=True)
class Signals:
    """What the ranker saw for one question; used by the result and by the calibration in the bench."""

    lang: str
    order: tuple[int, ...]  # entry indices, best first (at most ten)
    cosine: float  # TF-IDF cosine of the best entry's closest question
    coverage: float  # share of the question's word weight (IDF) that the best entry's questions contain
    # Fused score of the best entry minus the second, in standard deviations divided by the fusion's total
    # weight (as `top`): undivided, nearly every question's gap passed the feature's cap and it told nothing.
    margin: float
    agree: bool  # every ranker puts the same entry first
    # Embedding cosine of the best entry's closest question (None: the index has no embeddings).
    semantic: float | None = None
    # Share of the best entry's distinctive words (its closest phrasing, IDF-weighted) that the question has.
    reverse: float = 1.0
    opposite: bool = False  # the best entry is about the opposite of one of the question's words
    # How far the best entry stands out from all entries: its fused score (in standard deviations,
    # divided by the fusion's total weight), and its embedding cosine in standard deviations.
    top: float = 0.0
    semantic_z: float = 0.0
    # The question's words the guides never use, and those the best entry lacks (counts); the decision uses
    # them as shares of `words`, so that a long question is not doubted for being long.
    unknown: int = 0
    missing: int = 0
    words: int = 2  # the question's meaningful words (terms)
    # Terms that name something (not a question word, a modal or a request verb: «هل يمكن؟» has none).
    content: int = 2
    # The best entry's embedding cosine minus the best other entry's (0 without embeddings).
    semantic_gap: float = 0.0
    # The word ranker's (BM25) z-score of the best entry minus the best other entry's: whether the question's
    # distinctive words point to this entry alone (the fused margin is mostly the embeddings' say). Only its
    # positive part counts: when the words prefer another entry, the neighbours are still worth suggesting.
    word_gap: float = 0.0
    # With embeddings: whether the best entry is first under the lexical rankers and under the embeddings
    # both, and how far it stands above the best other entry under each (the lexical score divided by its
    # weight, as `top`; the embeddings' z-scores with the answers' share). The fused margin hides a split.
    both_first: bool = True
    lexical_gap: float = 0.0
    semantic_z_gap: float = 0.0
    # Names of other organisations' programmes in the question that the best entry's questions never use.
    foreign: int = 0
    # False when the best match is a topic the guides do not answer (content/guides/not_covered.yaml).
    covered: bool = True
    # How far the best entry stands above the closest topic the guides do not answer, lexically (as
    # lexical_gap) and under the embeddings (as semantic_z_gap): a question about a passport that ranks
    # «required documents» first but the passports decoy close behind is about the passport.
    decoy_gap: float = 6.0
    semantic_decoy_gap: float = 3.0
    # Unknown and missing words as a share of the whole question's words, even when `unknown` and `missing`
    # count only the clause that asks: «نسيت رقم الطلب في متجر نون، كيف أسترجعه؟» asks about another store.
    whole_lacking: float = 0.0

    def features(self) -> tuple[float, ...]:
        lexical = (
            self.cosine,
            self.coverage,
            self.reverse,
            min(self.margin, 1.0),
            min(self.top, 10.0) / 10.0,
            self.unknown / max(self.words, 1),
            self.missing / max(self.words, 1),
            min(max(self.word_gap, 0.0), 3.0) / 3.0,
            min(self.foreign, 1),
            self.whole_lacking,
        )
        if self.semantic is None:
            return lexical
        return (
            *lexical,
            self.semantic,
            min(self.semantic_z, 10.0) / 10.0,
            float(self.both_first),
            min(max(self.lexical_gap, -3.0), 6.0) / 6.0,
            min(max(self.semantic_z_gap, -3.0), 3.0) / 3.0,
            min(max(self.decoy_gap, -3.0), 6.0) / 6.0,
            min(max(self.semantic_decoy_gap, -3.0), 3.0) / 3.0,
        )


def confidence(signals: Signals, settings: RankerSettings) -> float:
    """Calibrated probability that the best entry is the right answer."""
    bias, *weights = settings.calibration(signals).coef
    z = bias + sum(w * f for w, f in zip(weights, signals.features(), strict=True))
    return 1.0 / (1.0 + math.exp(-z))
