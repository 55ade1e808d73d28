"""The sentence embeddings settle the entries the words leave close, and cannot overturn a clear lexical first."""

from __future__ import annotations

import numpy as np

from flows.faq.fusion import order


def test_the_embeddings_cannot_lift_an_entry_the_words_rank_far_below():
    lexical = np.asarray([6.0, 0.5, 5.0, 1.0])
    # The embeddings push entry 1 far ahead in the fused score; its words are 5.5 below the best.
    fused = lexical + np.asarray([0.0, 20.0, 2.0, 0.0])
    ranked = order(fused, lexical, band=2.0).tolist()
    # Entries 0 and 2 are within the band: the fused score orders them (2 first), then the rest.
    assert ranked == [2, 0, 1, 3]


def test_without_a_band_the_fused_score_alone_orders_the_entries():
    lexical = np.asarray([6.0, 0.5, 5.0, 1.0])
    fused = lexical + np.asarray([0.0, 20.0, 2.0, 0.0])
    assert order(fused, lexical, band=None).tolist() == [1, 2, 0, 3]
    assert order(fused).tolist() == [1, 2, 0, 3]


def test_at_most_ten_entries_are_ranked():
    scores = np.arange(30, dtype=float)
    ranked = order(scores, scores, band=100.0)
    assert ranked.tolist() == list(range(29, 19, -1))
