"""Topics the guides do not answer (content/guides/not_covered.yaml): a question about one is not answered
with the closest guide entry, and a topic is never shown as an answer, a suggestion or an entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import FaqPort
from bot.ask import payload
from flows.faq import GuideError, load_guides
from flows.faq.ranker import FaqIndex

GUIDE = """guide: support
title: {ar: "دليل الدعم", en: "Support guide"}
entries:
  - id: support-types
    section: {ar: "الدعم", en: "Support"}
    questions:
      ar: ["ما أنواع الدعم التي تقدمها الجمعية؟", "وش انواع الدعم عندكم", "هل تقدمون دعم مالي للأسر"]
      en: ["What kinds of support do you give?", "do you give financial support to families"]
    answer:
      ar: "تقدم الجمعية دعمًا ماليًا وعينيًا للأسر التي لديها أطفال."
      en: "The association gives financial and in-kind support to families with children."
  - id: committee-timeline
    section: {ar: "اللجنة", en: "Committee"}
    questions:
      ar: ["متى يصدر قرار لجنة البحث؟", "متى يطلع الرد على طلبي"]
      en: ["When does the research committee decide?", "when will i get an answer"]
    answer:
      ar: "تدرس لجنة البحث الطلب في مدة لا تقل عن أسبوعين."
      en: "The research committee studies the request in not less than two weeks."
"""

TOPICS = """topics:
  - id: car-loans
    about: {ar: "قروض شراء السيارات", en: "Car loans"}
    questions:
      ar: ["هل تقدمون قروض لشراء سيارة؟", "ابي قرض سياره بالتقسيط", "تمويل سيارة بدون كفيل"]
      en: ["Do you give car loans?", "can i get a loan to buy a car"]
"""


@pytest.fixture
def guides(tmp_path: Path) -> Path:
    (tmp_path / "support.yaml").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "not_covered.yaml").write_text(TOPICS, encoding="utf-8")
    return tmp_path


@pytest.fixture
def index(guides: Path) -> FaqIndex:
    return FaqIndex.build(load_guides(guides), embeddings=False)


def test_topics_load_as_entries_that_are_not_covered(guides: Path) -> None:
    entries = {entry.id: entry for entry in load_guides(guides)}
    assert entries["support-types"].covered
    assert not entries["car-loans"].covered
    assert entries["car-loans"].answer["en"] == "Car loans"  # never shown: what it is about, for maintainers


def test_a_question_about_a_topic_the_guides_do_not_answer_is_not_answered(index: FaqIndex) -> None:
    for question in ("ابي قرض عشان اشتري سياره", "can I get a loan for a car?"):
        result = index.query(question)
        assert index.entries[index.signals(question).order[0]].id == "car-loans"
        assert result.status == "none"
        assert result.entry is None and result.suggestions == ()
        # Editors see why with `python -m bot ask --json`.
        assert payload(result)["not_covered"] == "car-loans" and not payload(result)["matched"]


def test_without_the_topics_file_the_same_question_meets_a_guide_entry(guides: Path) -> None:
    (guides / "not_covered.yaml").unlink()
    index = FaqIndex.build(load_guides(guides), embeddings=False)
    assert index.entries[index.signals("ابي قرض عشان اشتري سياره").order[0]].covered


def test_guide_questions_are_still_answered_and_topics_are_never_suggested(index: FaqIndex) -> None:
    result = index.query("متى يطلع الرد على طلبي")
    assert result.status == "confident" and result.entry.id == "committee-timeline"
    for question in ("قرض دعم", "support loan", "دعم سياره", "دعم"):
        result = index.query(question)
        shown = [result.entry] if result.entry else []
        assert all(entry.covered for entry in [*shown, *result.suggestions]), question


def test_a_guide_entry_with_a_topic_close_behind_is_less_certain(index: FaqIndex) -> None:
    # The decision sees how far the best guide entry stands above the closest topic the guides do not answer:
    # a support question that also speaks of a car loan is nearer that topic than a plain support question.
    plain = index.signals("وش انواع الدعم اللي تقدمونه للاسر")
    mixed = index.signals("وش انواع الدعم عندكم ابي قرض سياره")
    assert index.entries[plain.order[0]].id == index.entries[mixed.order[0]].id == "support-types"
    assert mixed.decoy_gap < plain.decoy_gap
    assert plain.features() == index.signals("وش انواع الدعم اللي تقدمونه للاسر").features()


def test_a_topic_cannot_be_opened_by_its_id(guides: Path) -> None:
    port = FaqPort(load_guides(guides))
    assert port.entry("support-types") is not None
    assert port.entry("car-loans") is None  # a forged «faq:car-loans» button finds nothing


def test_a_topic_may_not_reuse_a_guide_entry_id(guides: Path) -> None:
    (guides / "not_covered.yaml").write_text(TOPICS.replace("car-loans", "support-types"), encoding="utf-8")
    with pytest.raises(GuideError) as caught:
        load_guides(guides)
    assert "not_covered.yaml" in str(caught.value) and "support.yaml" in str(caught.value)


def test_a_misspelt_topic_key_stops_start_up(guides: Path) -> None:
    (guides / "not_covered.yaml").write_text(TOPICS.replace("about:", "abuot:"), encoding="utf-8")
    with pytest.raises(GuideError) as caught:
        load_guides(guides)
    assert "car-loans" in str(caught.value) and "abuot" in str(caught.value)


def test_the_words_of_topics_do_not_make_a_question_look_known(guides: Path, index: FaqIndex) -> None:
    """The share of a question's words the guides never use ignores the topics' words, so a question about
    something else (closest to a guide entry) is doubted as before."""
    (guides / "not_covered.yaml").unlink()
    without = FaqIndex.build(load_guides(guides), embeddings=False)
    question = "ما أنواع الدعم للسيارة"
    assert index.signals(question).unknown == without.signals(question).unknown >= 1


async def test_a_beneficiary_asking_about_another_bodys_request_is_not_given_this_associations_answer(app):
    """With the real content: before the topics, «my housing request» got the answer about this association's
    request status (confident); now it is said plainly that there is no answer, and staff get the question."""
    from tests.conftest import Chat

    chat = Chat(app)
    await chat.send("/start")
    await chat.send("طلبي في سكني وين وصل")
    assert chat.keys == ["faq.no_answer_forwarded"]
    assert not any("faq:request-status" in key for key in chat.keys)
