"""A question of function words only is never answered from the scores, unless the guides hold it word for
word: «من انتم؟» is the editors' own phrasing of what the association is."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.faq import load_guides
from flows.faq.ranker import FaqIndex
from flows.faq.verbatim import phrase_key, verbatim_phrasings

GUIDE = """guide: about
title: {ar: "عن الجمعية", en: "About"}
entries:
  - id: about-association
    section: {ar: "التعريف", en: "About"}
    questions:
      ar: ["ما هي الجمعية؟", "من انتم", "وش تسوون"]
      en: ["What is the association?", "Who are you?"]
    answer:
      ar: "جمعية خيرية تعنى بالأطفال."
      en: "A charity for children."
  - id: contact-phone
    section: {ar: "التواصل", en: "Contact"}
    questions:
      ar: ["ما رقم الجمعية؟", "وش تسوون"]
      en: ["What is your phone number?"]
    answer:
      ar: "رقمنا في الموقع."
      en: "Our number is on the website."
"""

TOPICS = """topics:
  - id: your-boss
    about: {ar: "رئيس الموظفين", en: "Staff managers"}
    questions:
      ar: ["مين هو", "من مديرك"]
      en: ["who is he"]
"""


@pytest.fixture
def index(tmp_path: Path) -> FaqIndex:
    (tmp_path / "about.yaml").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "not_covered.yaml").write_text(TOPICS, encoding="utf-8")
    return FaqIndex.build(load_guides(tmp_path), embeddings=False)


@pytest.mark.parametrize("question", ["من انتم؟", "مين انتم", "من أنتم", "who are you", "WHO ARE YOU?!"])
def test_a_question_the_guides_hold_word_for_word_is_answered_even_if_it_names_nothing(index, question):
    assert index.signals(question) is None or index.signals(question).content == 0
    result = index.query(question)
    assert result.status == "confident" and result.entry.id == "about-association"


def test_other_questions_that_name_nothing_are_still_not_answered(index):
    for question in ("هل يمكن؟", "can I?", "من هم", "what is it"):
        assert index.query(question).status not in ("confident", "likely")


def test_a_phrasing_two_entries_share_belongs_to_neither(index):
    held = verbatim_phrasings(index.entries)
    assert index.entries[held[phrase_key("من انتم")]].id == "about-association"
    assert phrase_key("وش تسوون") not in held  # under about-association and contact-phone


def test_a_topic_the_guides_do_not_answer_stays_unanswered_word_for_word(index):
    result = index.query("مين هو؟")
    assert result.status == "none" and result.entry is None and result.topic.id == "your-boss"
