"""Arabic normalisation for the FAQ: each rule on the kind of text beneficiaries really type."""

from __future__ import annotations

import pytest

from flows.faq import detect_language, gap_key, looks_like_question, normalize_arabic
from flows.faq.normalize import analyze, content_terms, light_stem_arabic


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


# --- Issue 13: normalisation bugs found on text written outside the project, and guards against their class


def test_a_standard_word_starting_with_fa_is_not_split_into_a_dialect_word():
    # «فوائد» (benefits) is not «ف» + «وايد» (a lot): it must keep meeting «فائدة».
    assert normalize_arabic("فوائد") == "فوايد"
    assert "كثير" not in normalize_arabic("ما هي فوائد الجمعية")


@pytest.mark.parametrize("word", ["فوائد", "بحقي", "وكذا", "فزين", "لمو"])
def test_dialect_is_read_behind_a_joined_letter_only_for_present_tense_verbs(word):
    assert normalize_arabic(word) == normalize_arabic(word, dialect=False)


def test_a_joined_and_before_a_dialect_verb_is_still_read():
    assert normalize_arabic("وتبغى") == "وتريد"


def test_the_stemmer_never_cuts_into_a_three_letter_root():
    # «أماكن» is م-ك-ن, not «اما» + the pronoun «كن».
    assert light_stem_arabic("اماكن") == "اماكن"
    assert light_stem_arabic("اوقات") == "اوقات"  # «اوق» has no root left either


@pytest.mark.parametrize("word", ["اماكن", "مساكن", "سكانها", "امهات", "ابوها", "اياكم", "اوراقكم"])
def test_every_stem_keeps_three_letters_with_two_consonants(word):
    stem = light_stem_arabic(word)
    assert stem == word or (len(stem) >= 3 and sum(letter not in "اويه" for letter in stem) >= 2)


def test_abu_in_a_name_is_not_a_relative():
    # «أبو» started every «أبو …» name matching every other through the «relatives» synonyms.
    _, terms = analyze("أبو خالد", "ar")
    _, relative = analyze("قريبي", "ar")
    assert relative[0] not in terms


@pytest.mark.parametrize("general", ["منزلة", "مكان", "البيتي", "المكانة"])
def test_domain_synonyms_do_not_fire_on_general_words(general):
    from flows.faq.normalize import _synonym_table

    word = normalize_arabic(general)
    assert word not in _synonym_table("ar")
    _, terms = analyze(general, "ar")
    assert "مقر" not in terms


@pytest.mark.parametrize(("written", "listed"), [("بيتي", "بيت"), ("والمنزل", "بيت"), ("للمساعده", "مساعده")])
def test_domain_synonyms_still_fire_on_their_listed_forms(written, listed):
    assert analyze(written, "ar")[1] == analyze(listed, "ar")[1]


@pytest.mark.parametrize(
    ("gulf", "standard"),
    [
        ("للحين ما وصلني شي", "حتى الان ما وصلني شي"),
        ("وللحين ما ردوا", "وحتى الان ما ردوا"),
        ("محد رد علي", "لا احد رد علي"),
        ("ابي اللينك", "اريد الرابط"),
        ("وين اللوكيشن", "اين الموقع"),
        ("جاني مسج", "وصلني رساله"),
        ("ماقدرت ارفع الملف", "لا استطيع ارفع الملف"),
        ("اكمل الطلب بعدين", "اكمل الطلب لاحقا"),
        ("يطلع لي خطا", "يظهر لي خطا"),
        ("الكرت حقتي", "البطاقه لي"),
    ],
)
def test_common_gulf_words_read_as_standard_arabic(gulf, standard):
    assert normalize_arabic(gulf) == normalize_arabic(standard)


def test_gulf_fillers_do_not_count_as_meaning():
    # «والله», «بالضبط», «تقريبا» add nothing a guide could match: they must not dilute the question's words.
    assert analyze("وين مقركم بالضبط والله", "ar")[1] == analyze("وين مقركم", "ar")[1]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("هل يمكن؟", "ar"),
        ("ممكن اسال؟", "ar"),
        ("وش اسوي؟", "ar"),
        ("can I?", "en"),
        ("what should I do?", "en"),
    ],
)
def test_a_question_of_question_words_only_names_nothing(text, lang):
    assert content_terms(analyze(text, lang)[1], lang) == 0


@pytest.mark.parametrize(
    ("text", "lang"), [("هل يمكن التقديم؟", "ar"), ("ابي اقدم", "ar"), ("how do I apply", "en")]
)
def test_a_question_with_a_topic_names_it(text, lang):
    assert content_terms(analyze(text, lang)[1], lang) >= 1


# --- Gulf and hamza-less text that the blind set's writers typed: the word now meets the guides' word


@pytest.mark.parametrize(
    ("gulf", "standard"),
    [("للعيال", "للاطفال"), ("بالفلوس", "بالمال"), ("واللوكيشن", "والموقع"), ("كالعيال", "كالاطفال")],
)
def test_a_dialect_noun_with_the_article_is_read_behind_a_joined_letter(gulf, standard):
    # The article shows where the joined letter ends, so this is no «ف» + «وايد» split of a standard word.
    assert normalize_arabic(gulf) == normalize_arabic(standard)


def test_a_function_word_behind_a_joined_and_adds_no_meaning():
    # «وانا», «وعندي», «فهو» were terms the guides never use: they made a question look out of scope.
    assert analyze("وانا محتاجه مساعده", "ar")[1] == analyze("محتاجه مساعده", "ar")[1]
    assert analyze("وعندي سؤال عن الدعم فهو متاح", "ar")[1] == analyze("سؤال عن الدعم متاح", "ar")[1]
    assert analyze("ولي الامر", "ar")[1] != analyze("الامر", "ar")[1]  # «ولي» is a guardian, not «و» + «لي»


def test_hamzaless_aliya_is_not_cut_to_two_letters():
    # «آلية» (mechanism) typed without the madda is «اليه», not the article + «يه».
    assert light_stem_arabic("اليه") == "اليه"
    assert analyze("آلية", "ar")[1] == analyze("الية", "ar")[1] == ["اليه"]
    assert light_stem_arabic("الام") == "ام"  # two letters with a consonant are still a word


@pytest.mark.parametrize(
    ("with_article", "listed"),
    [
        ("الشكاوى", "شكوى"),
        ("الاجنبي", "اجنبي"),
        ("والأجنبي", "مقيم"),
        ("الاخصائي", "باحث"),
        ("للمجاني", "مجاني"),
    ],
)
def test_a_listed_adjective_or_plural_with_the_article_meets_its_synonyms(with_article, listed):
    assert analyze(with_article, "ar")[1] == analyze(listed, "ar")[1]


@pytest.mark.parametrize("child", ["ولدي", "بنتي", "بناتي", "ولدها"])
def test_my_son_and_my_daughter_are_children(child):
    assert analyze(child, "ar")[1] == analyze("اطفال", "ar")[1]


@pytest.mark.parametrize(
    ("typed", "written"),
    [("i dont have a phone", "I don't have a phone"), ("my childrens papers", "my children’s papers")],
)
def test_english_words_typed_without_the_apostrophe_read_as_with_it(typed, written):
    # Before, "don't" gave the term "don" while the phone-typed "dont" was dropped as a stop word.
    assert analyze(typed, "en") == analyze(written, "en")


def test_the_speller_reads_one_slip_as_the_known_word_and_leaves_short_or_known_words():
    from flows.faq.spelling import Speller

    speller = Speller(["documents", "apply", "number", "eligibility", "receive", "rent"])
    assert speller.correct("documnts") == "documents"  # a letter missing
    assert speller.correct("aplly") == "apply"  # a letter doubled
    assert speller.correct("recieve") == "receive"  # two letters swapped
    assert speller.correct("eligibilty") == "eligibility"
    assert speller.correct("number") is None  # known already
    assert speller.correct("sent") is None  # short words are not changed into another: «rent»
    assert speller.correct("nomber2") is None


def test_the_arabic_speller_reads_a_missing_or_extra_letter_but_never_a_changed_one():
    from flows.faq.spelling import ARABIC_SPELLING, Speller

    speller = Speller(["المستندات", "ارسلوا", "المالي", "تويتر"], **ARABIC_SPELLING)
    assert speller.correct("المستندت") == "المستندات"  # a letter missing
    assert speller.correct("ارسلو") == "ارسلوا"
    assert speller.correct("بتويتر") == "تويتر"  # one letter more
    assert speller.correct("الماضي") is None  # «past» is not «financial»: one letter changed
    assert speller.correct("تويت") is None  # four letters: too short


def test_saudi_city_names_read_as_a_city():
    """«ساكنة بالدمام» asks where the association serves, like «المدن التي تخدمونها»."""
    assert analyze("هل تخدمون المدن", "ar")[1][-1] == analyze("ساكنه بالدمام", "ar")[1][-1]
    assert analyze("خميس مشيط", "ar")[1] == analyze("المدينة", "ar")[1]
    assert analyze("i live in dammam", "en")[1][-1] == analyze("which cities", "en")[1][-1]


# --- Issue 13 (FAQ v2): Gulf words and verb forms that did not meet the guides' standard Arabic


@pytest.mark.parametrize(("with_me", "verb"), [("خدمني", "خدم"), ("يمنعني", "يمنع"), ("ساعدني", "ساعد")])
def test_a_verb_with_the_object_me_meets_the_verb(with_me, verb):
    # «ما احد خدمني» and «من خدم المستفيد» share the verb; before, «خدمني» stemmed to «خدمن», a word no guide uses.
    assert analyze(with_me, "ar")[1] == analyze(verb, "ar")[1]


@pytest.mark.parametrize(("adjective", "stem"), [("مجاني", "مجان"), ("عنواني", "عنوان"), ("ابني", "ابن")])
def test_a_word_whose_own_letter_is_nun_keeps_it(adjective, stem):
    assert light_stem_arabic(adjective) == stem


@pytest.mark.parametrize(
    ("gulf", "standard"),
    [
        ("ما قدرت ارفع الملف", "لا استطيع ارفع الملف"),  # the negation written apart, as well as joined
        ("ما اقدر ادخل", "لا استطيع ادخل"),
        ("ماني سعوديه", "لست سعوديه"),
        ("تشوف طلبي", "تري طلبي"),
        ("يحولونه على الآيبان", "يحولونه على الحساب البنكي"),
        ("التقديم بفلوس", "التقديم بمقابل"),
    ],
)
def test_more_gulf_words_read_as_standard_arabic(gulf, standard):
    assert normalize_arabic(gulf) == normalize_arabic(standard)


def test_i_am_not_saudi_in_dialect_is_a_non_saudi_question():
    assert analyze("ماني سعوديه", "ar")[1] == analyze("غير سعوديه", "ar")[1]


@pytest.mark.parametrize(
    ("joined", "apart"),
    [("مايقبلون طلبي", "ما يقبلون طلبي"), ("ماتردون علي", "ما تردون علي"), ("مايبي", "ما يبي")],
)
def test_not_joined_to_a_present_tense_verb_reads_as_written_apart(joined, apart):
    assert normalize_arabic(joined) == normalize_arabic(apart)


@pytest.mark.parametrize("word", ["مانع", "ماليه", "ماذا", "مادي"])
def test_a_word_that_only_starts_like_not_stays_whole(word):
    assert normalize_arabic(word) == word


def test_i_could_not_reads_as_the_guides_i_cannot():
    # «لم استطع» was a form no guide uses, so «ما قدرت ارفع» looked less like the guides than «ما اقدر ارفع».
    assert analyze("ما قدرت ارفع الملف", "ar")[1] == analyze("لا استطيع ارفع الملف", "ar")[1]
    assert analyze("ماقدرت ادخل", "ar")[1] == analyze("ما اقدر ادخل", "ar")[1]


def test_last_year_in_dialect_feminine_reads_as_the_past_year():
    assert normalize_arabic("السنه اللي فاتت") == normalize_arabic("السنه الماضيه")


@pytest.mark.parametrize(
    ("gulf", "standard"),
    [
        ("يمدي اقدم اللحين", "يمكن اقدم الان"),
        ("وش تبون من اوراق", "ماذا تريدون من اوراق"),
        ("مافيه رد", "لا يوجد رد"),
        ("ارسلت على الايميل", "ارسلت على البريد الالكتروني"),
        ("السيستم ما يفتح", "النظام ما يفتح"),
    ],
)
def test_common_saudi_words_the_table_lacked_read_as_standard_arabic(gulf, standard):
    assert normalize_arabic(gulf) == normalize_arabic(standard)


def test_my_wife_in_dialect_is_a_relative():
    assert analyze("حرمتي", "ar")[1] == analyze("زوجتي", "ar")[1]


def test_saudi_courtesies_do_not_count_as_meaning():
    # «تكفى», «الله يعافيك», «ان شاء الله», «مشكوره» are politeness, not words a guide could match: before, each
    # was a word the guides never use and made an answerable question look out of scope.
    polite = "تكفى ابي اعرف متى يطلع الرد ان شاء الله، الله يعافيك ومشكوره"
    assert analyze(polite, "ar")[1] == analyze("ابي اعرف متى يطلع الرد", "ar")[1]


def test_whose_in_dialect_leaves_no_lone_letter_as_a_word():
    # «حقت» (whose, feminine) reads «ل»: a lone letter is no word a guide could use; it counted as unknown.
    assert analyze("بطاقة العائلة حقت امي", "ar")[1] == analyze("بطاقة العائلة امي", "ar")[1]


@pytest.mark.parametrize(
    ("gulf", "standard"),
    [("فين مقركم", "اين مقركم"), ("عيالها صغار", "اطفالها صغار"), ("البزارين", "الاطفال"), ("فلوسي", "مالي")],
)
def test_hijazi_where_and_the_children_with_a_possessive_read_as_standard_arabic(gulf, standard):
    assert normalize_arabic(gulf) == normalize_arabic(standard)


def test_how_are_you_in_dialect_is_a_greeting_not_a_how_question():
    assert analyze("كيفك، ابي اقدم", "ar")[1] == analyze("ابي اقدم", "ar")[1]


@pytest.mark.parametrize(
    ("typed", "bare"),
    [("ومتى يصدر القرار", "متي"), ("وهل يطلب دخل", "هل"), ("فكيف اقيم", "كيف"), ("وكم المبلغ", "كم")],
)
def test_a_question_word_behind_a_joined_waw_or_faa_is_the_question_word(typed, bare):
    # Read whole, «ومتى» was stemmed to «ومت» and «وهل» was a word the guides never use.
    words, terms = analyze(typed, "ar")
    assert terms[0] == bare
    assert looks_like_question(typed)


def test_standard_words_that_start_like_a_joined_question_word_are_kept():
    assert analyze("وين مكانكم", "ar")[1][0] == "اين"
    assert analyze("فين مكانكم", "ar")[1][0] == "اين"  # Hijazi «where», not «ف» + «ين»
    assert looks_like_question("فين مكانكم")


def test_english_words_in_an_arabic_question_are_read_in_arabic():
    assert analyze("ابي اعرف الstatus متى", "ar")[1] == analyze("ابي اعرف الحاله متى", "ar")[1]
    assert "شكو" in analyze("ابي ارفع complaint على موظف", "ar")[1]
    assert "موقع" in analyze("ارسلولي location الجمعيه", "ar")[1]


def test_an_english_question_keeps_its_english_words():
    assert analyze("how do I check my request status", "en")[1][-2:] == ["request", "statu"]
