"""The FAQ as the service asks it (bot/app.py FaqPort): while the sentence model loads, questions are answered by
the lexical index; once the full index replaces it, no earlier (lexical) answer is given again from memory."""

from __future__ import annotations

from bot.app import FaqPort
from flows.faq import FaqIndex

QUESTION = "متى يطلع الرد على طلبي"


def test_an_answer_given_while_the_model_loaded_is_not_repeated_once_the_full_index_is_ready(
    shared_faq, tmp_path
):
    port = FaqPort(shared_faq.entries, cache=tmp_path / "faq-embeddings.npz")
    port.background = True  # as `python -m bot chat` runs it
    early = port(QUESTION)
    port._warming.join(timeout=300)  # the background build: lexical first, then the full index
    full = port.index
    assert len(full.signal_names) == 3  # the sentence model is in
    again = port(QUESTION)
    assert again == full.query(QUESTION)
    assert again.entry is not None and again.entry.id == "committee-timeline"
    # The early answer came from the lexical index (its own calibration gives another score): it is not what
    # the port answers now.
    assert early == FaqIndex.build(shared_faq.entries, embeddings=False).query(QUESTION)
    assert early.score != again.score
    assert port(QUESTION) is again  # asked once more: the same answer, not ranked again


def test_without_the_sentence_model_the_port_answers_with_the_lexical_index_alone(shared_faq):
    port = FaqPort(shared_faq.entries, embeddings=False)  # BOT_FAQ_EMBEDDINGS=0
    port.background = True
    answer = port(QUESTION)
    port._warming.join(timeout=300)
    assert port.index.signal_names == ("char n-gram TF-IDF", "BM25")
    assert answer.entry is not None and answer.entry.id == "committee-timeline"
    assert port(QUESTION) is answer
