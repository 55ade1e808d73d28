"""Arabic normalisation for the FAQ: each rule on the kind of text beneficiaries really type."""

from __future__ import annotations

import pytest

from flows.faq import detect_language, gap_key, looks_like_question, normalize_arabic
from flows.faq.normalize import analyze, light_stem_arabic


def test_diacritics_are_removed():
    assert normalize_arabic("إِجْرَاءَاتُ اللَّجْنَةِ") == normalize_arabic("اجراءات اللجنة")


def test_tatweel_is_removed():
    assert normalize_arabic("الجمعـــــية") == normalize_arabic("الجمعية")


@pytest.mark.parametrize("written", ["أسبوعين", "إسبوعين", "آسبوعين", "ٱسبوعين"])
def test_every_alef_with_hamza_or_madda_becomes_bare_alef(written):
    assert normalize_arabic(written) == "اسبوعين"


def test_hamza_on_waw_becomes_waw():
    assert normalize_arabic("مسؤول") == "مسوول"


def test_hamza_on_yeh_becomes_yeh():
    assert normalize_arabic("الوثائق") == "الوثايق"


def test_alef_maqsura_becomes_yeh():
    assert normalize_arabic("متى") == "متي"


def test_taa_marbuta_becomes_heh():
    assert normalize_arabic("اللجنة") == "اللجنه"


def test_arabic_indic_and_extended_digits_become_western():
    assert normalize_arabic("طلب رقم ٠١٢٣٤٥٦٧٨٩ و ۰۱۲۳۴۵۶۷۸۹") == "طلب رقم 0123456789 و 0123456789"


def test_bidi_and_zero_width_marks_are_removed():
    assert normalize_arabic("\u200fطلب\u200c\u200dي\u2066\u2069\ufeff") == "طلبي"


def test_letters_repeated_for_emphasis_collapse():
    assert normalize_arabic("شكرااااا") == "شكرا"
    assert normalize_arabic("متى يطلع الرددددد") == normalize_arabic("متى يطلع الرد")


def test_a_real_double_letter_is_kept():
    assert normalize_arabic("للجنة") == "للجنه"


def test_punctuation_is_dropped():
    assert normalize_arabic("متى الرد؟! (ضروري)، شكراً.") == "متي الرد ضروري شكرا"


@pytest.mark.parametrize(
    ("dialect", "standard"),
    [
        ("وش الاوراق المطلوبة", "ماذا الاوراق المطلوبه"),
        ("ايش المطلوب", "ماذا المطلوب"),
        ("ابي اقدم", "اريد اقدم"),
        ("ابغى اتطوع", "اريد اتطوع"),
        ("متى يطلع الرد", "متي يصدر الرد"),
        ("وين طلبي", "اين طلبي"),
        ("كيف اسوي طلب", "كيف افعل طلب"),
        ("ليش رفضتوا", "لماذا رفضتوا"),
        ("ما عندي فلوس", "ما عندي مال"),
        ("عيالي صغار", "اطفالي صغار"),
        ("هالطلب", "هذا الطلب"),
        ("وابي اعرف", "واريد اعرف"),
    ],
)
def test_gulf_dialect_maps_to_standard_arabic(dialect, standard):
    assert normalize_arabic(dialect) == standard


def test_dialect_mapping_can_be_turned_off():
    assert normalize_arabic("وش ابي", dialect=False) == "وش ابي"


def test_light_stemming_strips_article_prefixes_and_suffixes():
    assert light_stem_arabic("المستفيدين") == "مستفيد"
    assert light_stem_arabic("والاوراق") == "اوراق"
    assert light_stem_arabic("طلباتي") == "طلب"
    assert light_stem_arabic("مدينتي") == light_stem_arabic("مدينه")


def test_light_stemming_leaves_short_words_whole():
    assert light_stem_arabic("عنوان") == "عنوان"
    assert light_stem_arabic("وقت") == "وقت"


def test_missing_hamza_and_dialect_reach_the_same_terms_as_the_guide_wording():
    _, typed = analyze("وش الاوراق المطلوبه للمساعده", "ar")
    _, guide = analyze("ما الأوراق المطلوبة للمساعدة؟", "ar")
    assert set(guide) - {"ما"} <= set(typed)


def test_english_is_lowercased_stemmed_and_stop_words_dropped():
    _, terms = analyze("When will the Committee REPLY to my applications?", "en")
    assert terms == ["when", "committe", "answer", "request"]


def test_language_detection():
    assert detect_language("متى يطلع الرد") == "ar"
    assert detect_language("When is the answer due?") == "en"
    assert detect_language("my ID رقم") == "ar"
    assert detect_language("12345") == "en"


def test_gap_key_keeps_no_phone_id_or_email():
    key = gap_key("رقمي ٠٥٥١٢٣٤٥٦٧ وهويتي 1012345678 وايميلي sara.a@example.com متى الرد")
    assert "0551234567" not in key and "1012345678" not in key and "example" not in key
    assert "متي الرد" in key


def test_gap_key_replaces_short_numbers_and_truncates():
    assert gap_key("عندي ٣ اطفال") == "عندي # اطفال"
    assert len(gap_key("سؤال " * 100)) <= 200


def test_gap_key_groups_spelling_variants_together():
    assert gap_key("متى يطلع الرد؟") == gap_key("متى يطلع الرّد")


@pytest.mark.parametrize(
    "text",
    [
        "متى يطلع الرد",
        "كيف اقدم",
        "وش المطلوب",
        "ليش انرفض طلبي",
        "وين طلبي",
        "هل فيه دوام السبت",
        "السلام عليكم متى الرد",
        "ما هي الشروط",
        "ابي اعرف حالة الطلب",
        "طلبي انرفض؟",
        "What documents do I need",
        "can I apply online",
    ],
)
def test_questions_are_recognised(text):
    assert looks_like_question(text)


@pytest.mark.parametrize(
    "text", ["محمد عبدالله", "الرياض", "من الرياض", "ما عندي اطفال", "1012345678", "Sara Ahmed", ""]
)
def test_form_answers_are_not_mistaken_for_questions(text):
    assert not looks_like_question(text)
