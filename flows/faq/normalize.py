"""Text normalisation for matching beneficiaries' questions: Arabic (standard and Gulf dialect) and English."""

from __future__ import annotations

import re
from functools import cache, lru_cache

from flows.faq.dialect import DIALECT
from flows.faq.opposites import OPPOSITES
from flows.faq.synonyms import SYNONYMS

_INVISIBLE = re.compile("[\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]")
_ARABIC_LETTER = re.compile("[\u0621-\u063a\u0641-\u064a\u0671-\u06d3]")
_ARABIC_REPEAT = re.compile(r"([\u0621-\u063a\u0641-\u064a])\1{2,}")
_LATIN_REPEAT = re.compile(r"([a-z])\1{2,}")
# An apostrophe inside a Latin word is dropped, not split on: "don't" and the phone-typed "dont" become one
# word, as do "children's" and "childrens" (before, "don't" gave the term "don" and "dont" a stop word).
_LATIN_APOSTROPHE = re.compile("(?<=[a-z])['\u2019\u2018`\u00b4](?=[a-z])")
_NOT_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Phones, national ID / iqama numbers, IBANs: a long run of digits, possibly split by spaces or dashes.
_LONG_NUMBER = re.compile(r"(?:\+|\b00)?\d[\d\s\-]{5,}\d|\b[A-Za-z]{2}\d{2}[A-Za-z0-9]{10,}\b")

_CHAR_MAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ؤ": "و",
        "ئ": "ي",
        "ى": "ي",
        "ة": "ه",
        "ی": "ي",  # Persian yeh and keheh come from some phone keyboards
        "ک": "ك",
        "\u0640": None,  # tatweel
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)

# Function words that carry no meaning for matching. Question words (متى، كيف، كم، ...) are kept on
# purpose: they tell "when will I get an answer" apart from "how do I apply".
_AR_STOP = frozenset(
    """
    في فى من على علي الى الي عن و او ثم ان انه انها انا انت انتم احنا نحن هو هي هم هذا هذه ذلك تلك هناك
    التي الذي الذين اللي لي لك له لها لنا لكم لهم بي بك به بها بنا بكم عند عندي عندنا عندكم مع يا ايها
    قد لقد كان كانت يكون تكون اي ايه ياخي يااخي اخي لو سمحت سمحتي ممكن رجاء الرجاء فضلك فضلكم
    السلام عليكم عليكم وعليكم ورحمه الله وبركاته مرحبا اهلا هلا صباح مساء الخير النور شكرا مشكورين
    يعطيك يعطيكم العافيه جزاكم خيرا طيب يعني فقط ايضا كمان الان حاليا سؤال استفسار ابغي اريد نريد
    اود ود بدي جدا كثير نعم لا اوكي تمام فيه فيها كل يتم تم شي شيء ولا لما مني عني عنها عنه احد لازم يصير
    والله بالله بالضبط تقريبا عاده عاد ترا تري حيل
    تكفي تكفين تكفون يعافيك يعافيكم يسعدك يسعدكم يخليك يخليكم ياليت بليز لوسمحت مشكور مشكوره جزاك
    انشالله انشاءالله شاء ل بشكل
    """.split()
)

_EN_STOP = frozenset(
    """
    a an the and or but of to in on at for from by with about into as is am are was were be been being
    i me my mine we us our you your yours he him his she her it its they them their this that these those
    there here please hi hello hey thanks thank dear sir madam will would like want wants wanted need just
    so very really also too any some im ive dont doesnt s t d ll m ve re yes no ok okay u ur pls plz
    """.split()
)

# Greetings that look like questions: «كيف حالك» is not about a request's «حالة», "how are you" is not
# "how do I…". «كيف حال طلبي» keeps «طلبي».
_PLEASANTRIES = {
    "ar": frozenset(
        {
            ("كيف", "حال"),
            ("كيف", "الحال"),
            ("كيف", "حالك"),
            ("كيف", "حالكم"),
            ("كيف", "حالج"),
            ("كيف", "حالكن"),
        }
    ),
    "en": frozenset(
        {("how", "are", "you"), ("how", "r", "u"), ("how", "is", "it", "going"), ("how", "s", "it", "going")}
    ),
}
_AR_QUESTION_WORDS = frozenset(
    "متي ماذا كيف هل لماذا اين كم ايش وش ليش وين فين شلون وشلون شنو مين منو ممكن سؤال استفسار".split()
)
_AR_QUESTION_PHRASES = ("اريد اعرف", "اريد ان اعرف", "ابي اعرف", "ابغي اعرف", "ودي اعرف", "عندي سؤال")
_AR_OPENERS = frozenset("طيب لو سمحت سمحتي السلام عليكم مرحبا اهلا هلا عفوا يعني اخي اختي ياخي".split())
# «ما» and «من» also start plain statements («ما عندي…», «من الرياض»), so they count only before these.
_AR_AMBIGUOUS_STARTS = {"ما": ("هي", "هو", "هم", "ال"), "من": ("هو", "هي", "هم", "الذي", "يقرر", "المسوول")}
_EN_QUESTION_WORDS = frozenset(
    "what whats when how why where who whom whose which can could is are am do does did will would "
    "should may might shall have has".split()
)
_JOINED = frozenset("ولبف")  # one-letter words written joined to the next: and, for, with, so
_IMPERFECT = frozenset("اتين")  # the prefixes of a present-tense verb: «ابي», «تبغى», «يقدر», «نبي»
_WEAK = frozenset("اويه")  # long vowels and the taa marbuta's «ه»: not enough on their own to be a root
_AR_PREFIXES = ("وبال", "فبال", "وال", "بال", "كال", "فال", "ولل", "لل", "ال")
# (suffix, shortest stem it may leave), longest first. «يه» is the feminine of the «ي» adjective ending:
# «اجتماعية» and «اجتماعي» meet at «اجتماع». «ني» is the object «me» of a verb («خدمني», «يمنعني»,
# «وصلني» meet «خدم», «يمنع», «وصل»), never after a long vowel («مجاني», «الكتروني» keep their «ن»).
_AR_PRONOUN_SUFFIXES = (
    ("هما", 3),
    ("كما", 3),
    ("ها", 3),
    ("هم", 3),
    ("هن", 3),
    ("كم", 3),
    ("كن", 3),
    ("نا", 3),
    ("ني", 3),
    ("يه", 3),
    ("ه", 3),
    ("ي", 3),
    ("ك", 3),
)
_AR_PLURAL_SUFFIXES = (("تين", 3), ("ات", 3), ("ون", 3), ("ين", 3), ("ان", 4))


def _normalize_chars(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    text = _DIACRITICS.sub("", text)
    text = text.translate(_CHAR_MAP)
    return _ARABIC_REPEAT.sub(r"\1", text)


def _strip_punctuation(text: str) -> str:
    text = _LATIN_APOSTROPHE.sub("", _LATIN_REPEAT.sub(r"\1\1", text.lower()))
    return " ".join(_NOT_WORD.sub(" ", text).split())


@lru_cache(maxsize=100_000)
def _normalize_word(word: str) -> tuple[str, ...]:
    # Per word and cached: the guides and the questions reuse the same words over and over.
    return tuple(_unjoin(part) for part in _strip_punctuation(_normalize_chars(word)).split())


# An English word typed with the Arabic article on it («الstatus», «بالlink»): the word alone (the borrowed-
# words table in flows/faq/dialect.py then reads it in Arabic).
_ARTICLE_ON_LATIN = re.compile(r"^[وبفلك]?ال([a-z][a-z0-9]*)$")


def _unjoin(word: str) -> str:
    """A question word behind a joined «و» or «ف» («وهل», «ومتى», «فكيف») is the question word: read whole it
    was a word the guides never use, and the stemmer cut «ومتي» to «ومت». The article on an English word
    is dropped."""
    if len(word) > 2 and word[0] in "وف" and word[1:] in _AR_QUESTION_WORDS:
        return word[1:]
    if (latin := _ARTICLE_ON_LATIN.match(word)) is not None:
        return latin.group(1)
    return word


def _normalize_words(text: str) -> list[str]:
    return [part for word in text.split() for part in _normalize_word(word)]


@cache
def _dialect_table() -> tuple[
    dict[str, tuple[str, ...]], dict[tuple[str, ...], tuple[str, ...]], int, frozenset[str], frozenset[str]
]:
    words: dict[str, tuple[str, ...]] = {}
    phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for source, target in DIALECT.items():
        key = tuple(_strip_punctuation(_normalize_chars(source)).split())
        value = tuple(_strip_punctuation(_normalize_chars(target)).split())
        if len(key) == 1:
            words[key[0]] = value
        else:
            phrases[key] = value
    starts = frozenset(key[0] for key in phrases)
    definite = [word for word in words if word.startswith("ال")]
    triggers = (
        frozenset(words)
        | starts
        | {letter + word for letter in _JOINED for word in words}
        | {"ك" + word for word in definite}
        | {prefix + word[2:] for prefix in ("لل", "ولل") for word in definite}
    )
    return words, phrases, max((len(key) for key in phrases), default=1), starts, triggers


def _joinable(word: str) -> bool:
    """A dialect word that may be read behind a joined «و», «ب», «ل» or «ف»: only present-tense verbs
    («وابي» = «واريد»). Other dialect words read that way split standard words: «فوايد» (benefits) is not
    «ف» + «وايد», «بحقي» is not «ب» + «حقي»."""
    return len(word) >= 3 and word[0] in _IMPERFECT


def _definite_behind_letter(word: str, single: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """A dialect noun with the article behind a joined «و», «ب», «ل», «ف» or «ك» («بالفلوس», «واللوكيشن»),
    or behind «لل» («للعيال» = «ل» + «العيال»). The article marks where the joined letter ends, so this never
    splits a standard word the way «ف» + «وايد» split «فوايد»."""
    if word.startswith(("لل", "ولل")) and "ال" + word.removeprefix("و")[2:] in single:
        joined = word[: len(word) - len(word.removeprefix("و"))]
        replacement = single["ال" + word[len(joined) + 2 :]]
        if replacement[0].startswith("ال"):
            return (joined + "لل" + replacement[0][2:], *replacement[1:])
        return None
    if len(word) > 4 and word[0] in _JOINED | {"ك"} and word[1:3] == "ال" and word[1:] in single:
        replacement = single[word[1:]]
        return (word[0] + replacement[0], *replacement[1:])
    return None


def _split_negation(words: list[str]) -> list[str]:
    """«ما» typed joined to a present-tense verb («مايقبل», «ماتردون», «مانقدر») is «ما» + the verb. Only
    before a verb's prefix and with three letters left at least: «مانع», «مالي», «ماذا» stay whole."""
    if not any(w.startswith("ما") for w in words):
        return words
    out: list[str] = []
    for word in words:
        if len(word) >= 5 and word.startswith("ما") and word[2] in _IMPERFECT and word[3] not in _WEAK:
            out.extend(("ما", word[2:]))
        else:
            out.append(word)
    return out


def _apply_dialect(words: list[str]) -> list[str]:
    single, phrases, longest, starts, triggers = _dialect_table()
    words = _split_negation(words)
    if triggers.isdisjoint(words) and "هال" not in " ".join(words):
        return words
    out: list[str] = []
    i = 0
    while i < len(words):
        sizes = range(min(longest, len(words) - i), 1, -1) if words[i] in starts else ()
        for size in sizes:
            phrase = tuple(words[i : i + size])
            if phrase in phrases:
                out.extend(phrases[phrase])
                i += size
                break
        else:
            word = words[i]
            if word in single:
                out.extend(single[word])
            elif len(word) > 3 and word[0] in _JOINED and word[1:] in single and _joinable(word[1:]):
                replacement = single[word[1:]]
                out.extend([word[0] + replacement[0], *replacement[1:]])
            elif (definite := _definite_behind_letter(word, single)) is not None:
                out.extend(definite)
            elif len(word) > 4 and word.startswith("هال"):
                out.extend(["هذا", "ال" + word[3:]])  # «هالطلب» = «هذا الطلب»
            else:
                out.append(word)
            i += 1
    return out


def normalize_arabic(text: str, dialect: bool = True) -> str:
    """Normalise for matching: marks, letter forms, digits, repeats, punctuation and (optionally) dialect."""
    words = _normalize_words(text)
    if dialect:
        words = _apply_dialect(words)
    return " ".join(words)


def detect_language(text: str) -> str:
    return "ar" if _ARABIC_LETTER.search(text) else "en"


@lru_cache(maxsize=50_000)
def light_stem_arabic(word: str) -> str:
    """Strip the article, joined prepositions, one pronoun suffix and one plural/dual suffix.

    Each suffix has a minimum stem length it must leave, so short words («عنوان», «مجاني») keep their letters.
    """
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and _article_left(word[len(prefix) :]):
            word = word[len(prefix) :]
            break
    if len(word) >= 5 and word.endswith("وا") and _root_left(word[:-2]):
        word = word[:-2]  # «رفضوا», «وضحوا»: the plural verb ending
    elif len(word) >= 5 and word.endswith("ا") and _root_left(word[:-1]):
        word = word[:-1]  # «اقتراحاً», «شخصياً»: the accusative alef left when the tanween mark is removed
    for suffix, keep in _AR_PRONOUN_SUFFIXES:
        if suffix == "ني" and word.endswith(suffix) and word[-3] in _WEAK:
            continue  # «مجاني», «الكتروني», «قانوني»: the «ن» is the word's own; only «ي» may go
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and _root_left(word[: -len(suffix)]):
            word = word[: -len(suffix)]
            if word.endswith("ت") and not word.endswith("ات") and len(word) > 3 and _root_left(word[:-1]):
                word = word[:-1]  # «مدينتي» is «مدينة» + «ي»: drop the taa marbuta as «مدينه» drops «ه»
            break
    for suffix, keep in _AR_PLURAL_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and _root_left(word[: -len(suffix)]):
            word = word[: -len(suffix)]
            break
    return word


def _article_left(rest: str) -> bool:
    """Whether what follows a leading «ال» (or «وال», «بال», …) can be a word: two letters at least, not only
    long vowels («الام» is «ام», but «اليه», the hamza-less «آلية», is not «ال» + «يه»)."""
    return len(rest) >= 3 or (len(rest) == 2 and any(letter not in _WEAK for letter in rest))


def _root_left(stem: str) -> bool:
    """Whether a stem still holds a three-letter root: three letters, two of them not long vowels.

    «اماكن» is not «اما» + «كن» (its root is م-ك-ن); «بيتي» is «بيت» + «ي»."""
    return len(stem) >= 3 and sum(letter not in _WEAK for letter in stem) >= 2


@cache
def _isri():  # type: ignore[no-untyped-def]
    # nltk takes 2.7 s and 90 MB to import (it pulls in scipy and scikit-learn): only for the optional root
    # fallback (RankerSettings.root_fallback, off by default).
    from nltk.stem.isri import ISRIStemmer

    return ISRIStemmer()


@cache
def _porter():  # type: ignore[no-untyped-def]
    import snowballstemmer  # the Porter algorithm, pure Python, imported in milliseconds

    return snowballstemmer.stemmer("porter")


@lru_cache(maxsize=50_000)
def arabic_root(word: str) -> str:
    """The ISRI root (nltk), too coarse to match on but a fallback for word forms the guides lack."""
    return _isri().stem(word)


@lru_cache(maxsize=50_000)
def stem_english(word: str) -> str:
    return _porter().stemWord(word)


def normalize_english(text: str) -> str:
    return " ".join(_normalize_words(text))


def gap_key(text: str) -> str:
    """A key for the unanswered-questions report that keeps no personal data (numbers, e-mails, phones)."""
    text = _normalize_chars(text)
    for pattern in (_URL, _EMAIL, _LONG_NUMBER):
        text = pattern.sub(" ", text)
    text = normalize_arabic(text)
    return _DIGITS.sub("#", text)[:200].strip()


def looks_like_question(text: str) -> bool:
    if "?" in text or "؟" in text:
        return True
    words = normalize_arabic(text, dialect=False).split()
    if detect_language(text) == "en":
        return bool(words) and words[0] in _EN_QUESTION_WORDS
    while words and words[0] in _AR_OPENERS:
        words.pop(0)
    if not words:
        return False
    normalized = " ".join(words)
    if words[0] in _AR_QUESTION_WORDS or normalized.startswith(_AR_QUESTION_PHRASES):
        return True
    followers = _AR_AMBIGUOUS_STARTS.get(words[0])
    return bool(followers and len(words) > 1 and words[1].startswith(followers))


def _normalize(text: str, lang: str) -> list[str]:
    return normalize_arabic(text).split() if lang == "ar" else normalize_english(text).split()


@cache
def _phrase_table(lang: str) -> tuple[dict[tuple[str, ...], str], int, frozenset[str]]:
    phrases: dict[tuple[str, ...], str] = {}
    for group in SYNONYMS[lang]:
        canonical = " ".join(_normalize(group[0], lang))
        for member in group[1:]:
            words = tuple(_normalize(member, lang))
            if len(words) > 1:
                phrases[words] = canonical
    return phrases, max((len(key) for key in phrases), default=0), frozenset(key[0] for key in phrases)


def _merge_phrases(words: list[str], lang: str) -> list[str]:
    phrases, longest, starts = _phrase_table(lang)
    if starts.isdisjoint(words):
        return words
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 1, -1):
            canonical = phrases.get(tuple(words[i : i + size]))
            if canonical:
                out.append(canonical)
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _drop_pleasantries(words: list[str], lang: str) -> list[str]:
    if ("كيف" if lang == "ar" else "how") not in words:
        return words
    phrases = _PLEASANTRIES[lang]
    out: list[str] = []
    i = 0
    while i < len(words):
        size = next((n for n in (4, 3, 2) if tuple(words[i : i + n]) in phrases), 0)
        if size:
            i += size
        else:
            out.append(words[i])
            i += 1
    return out


def _words(text: str, lang: str) -> list[str]:
    return _drop_pleasantries(_merge_phrases(_normalize(text, lang), lang), lang)


def _plain_stem(word: str, lang: str) -> str | None:
    stop = _AR_STOP if lang == "ar" else _EN_STOP
    if word in stop or word.isdigit():
        return None
    if lang == "ar" and len(word) > 2 and word[0] in "وف" and word[1:] in _AR_STOP and word != "ولي":
        # «وانا», «وعندي», «فهو»: a function word behind a joined «و» or «ف» is still one («ولي» is a guardian)
        return None
    return light_stem_arabic(word) if lang == "ar" else stem_english(word)


@cache
def _synonym_table(lang: str) -> dict[str, str]:
    """English: stem -> the group's stem. Arabic: written form -> the group's stem.

    Arabic synonyms match only the forms the list holds, behind a joined «و», «ب», «ل», «ف», «ك» or the
    article, or followed by a possessive ending («بيتي», «بيوتنا»): matching light stems made general words
    look like the association's vocabulary («منزلة» rank -> «منزل» -> «بيت», «البيتي» -> «بيت»).
    """
    table: dict[str, str] = {}
    for group in SYNONYMS[lang]:
        members = [w for word in group if " " not in word for w in _words(word, lang)]
        stems = [_plain_stem(w, lang) for w in members]
        canonical = next((stem for stem in stems if stem), None)
        if canonical is None:
            continue
        if lang == "en":
            for stem in stems[1:]:
                if stem:
                    table.setdefault(stem, canonical)
            continue
        for member in members:
            for form in _arabic_forms(member):
                table.setdefault(form, canonical)
    return table


_AR_POSSESSIVE = ("ي", "نا", "كم", "هم", "ها", "ك")
_AR_ARTICLE_FORMS = ("ال", "وال", "بال", "فال", "كال", "لل", "ولل")


def _arabic_forms(member: str) -> list[str]:
    definite = member.startswith("ال")  # «البيت» takes no ending: «البيتي» is «domestic»
    possessed = member.endswith(_AR_POSSESSIVE) and len(member) > 3
    bases = [member] if possessed or definite else [member, *(member + ending for ending in _AR_POSSESSIVE)]
    forms = [*bases, *(letter + base for base in bases for letter in _JOINED | {"ك"})]
    # The article goes on listed members only (never on a generated «بيتي»). On a member that ends like a
    # possessive it needs five letters: «الاجنبي», «الشكاوي» are the listed adjective or plural with «ال»,
    # while a short kinship word with «ال» is another word («الامي» illiterate, «الزوجي» marital).
    if not definite and (not possessed or len(member) >= 5):
        forms += [article + member for article in _AR_ARTICLE_FORMS]
        if member.startswith("ل"):
            forms += ["ل" + member, "ول" + member]  # «للجنه», «ولجنه»
    return forms


@lru_cache(maxsize=100_000)
def _term(word: str, lang: str) -> str | None:
    """The word ranker's term for one normalised word (stem, synonyms merged), or None for a stop word."""
    stem = _plain_stem(word, lang)
    if stem is None:
        return None
    key = stem if lang == "en" else word
    return _synonym_table(lang).get(key, stem)


def arabic_term(word: str) -> str:
    return _term(word, "ar") or word


def analyze(text: str, lang: str, stems: bool = True) -> tuple[list[str], list[str]]:
    """Words for the character n-grams, and (unless `stems` is false) terms for BM25.

    The words are the meaningful ones as written (after normalisation); terms are their light stems with
    synonyms merged. A text of stop words only keeps its words for the character n-grams.
    """
    words = _words(text, lang)
    terms = [_term(w, lang) for w in words]
    content = [w for w, t in zip(words, terms, strict=True) if t is not None]
    return content or words, [t for t in terms if t is not None] if stems else []


# Words that ask without naming anything: question words, modals and request verbs. A question made of these
# only («هل يمكن؟», «ممكن اسال؟», "can I?", "what should I do?") names no topic, so it is never answered
# outright. Written naturally; they go through the same normalisation (dialect included) and stemming.
_FUNCTION_WORDS = {
    "ar": """
    هل متى متي كيف ماذا لماذا اين أين كم ايش وش ليش وين شلون شنو مين منو ما ماهو ماهي هو هي
    يمكن يمكنني يمكننا ممكن امكن استطيع نستطيع تستطيع يستطيع اقدر نقدر تقدر يقدر ينفع يجوز يصلح
    اريد نريد تريد ابي ابغى ودي اعرف نعرف تعرف اسال اسأل سال أسأل اسئله افعل نفعل اسوي اعمل
    يجب ينبغي لازم ضروري مسموح شي شيء حاجه امر موضوع طريقه الطريقه سوال السوال
    """,
    "en": """
    what whats when how why where who whom whose which can could do does did will would should may might
    shall must have has had get know ask question thing something anything way possible allowed
    """,
}


@cache
def _function_terms(lang: str) -> frozenset[str]:
    terms: set[str] = set()
    for word in _FUNCTION_WORDS[lang].split():
        terms.update(analyze(word, lang)[1])
    return frozenset(terms)


def content_terms(terms: set[str] | list[str], lang: str) -> int:
    """How many of a question's terms name something (not a question word, modal or request verb)."""
    function = _function_terms(lang)
    return sum(1 for term in set(terms) if term not in function)


@cache
def _opposite_table(lang: str) -> dict[str, tuple[int, int]]:
    """term -> (pair number, side +1 or -1)."""
    table: dict[str, tuple[int, int]] = {}
    for number, (first, second) in enumerate(OPPOSITES[lang]):
        for side, words in ((1, first), (-1, second)):
            for text in words:
                for term in analyze(text, lang)[1]:
                    table.setdefault(term, (number, side))
    return table


def opposite_sides(terms: list[str] | set[str], lang: str) -> list[int]:
    """For each pair of opposites: +1 if the terms hold only the first side, -1 only the second, else 0."""
    seen: dict[int, set[int]] = {}
    table = _opposite_table(lang)
    for term in terms:
        hit = table.get(term)
        if hit is not None:
            seen.setdefault(hit[0], set()).add(hit[1])
    return [next(iter(seen[n])) if len(seen.get(n, ())) == 1 else 0 for n in range(len(OPPOSITES[lang]))]


# Other bodies and their programmes and services, general public knowledge (Saudi government platforms, ministries
# and agencies, courts and police, hospitals and universities, banks, large companies, shops and apps, clubs, other
# charities): a question naming one that the best entry never mentions is about that body, not this association
# («كيف اسجل في حافز» is not how to apply here; «دوام الاحوال المدنيه متى يبدا» is not our office hours). Only names
# that mean the body and nothing else once stemmed («الشرطة» stems to «شرط», a condition; «سكني» to «سكن»; «مرور»
# is also time passing; «الأحوال», «الأمانة», «جاهز», «كريم», "noon" mean other things; «المدرسة» can be our
# support for school costs), and never a channel the association itself uses (WhatsApp, the website).
_OTHER_ORGANISATIONS = {
    "ar": (
        "الضمان ريف ابشر توكلنا نفاذ حافز البر جدارات ناجز الجوازات المحكمة الوزارة وزارة المستشفى مستشفى"
        " البنك بنك الراجحي الانماء ارامكو سابك نون امازون هنقرستيشن مرسول اوبر الهلال نتفلكس سناب تيك انستقرام"
    ),
    "en": (
        "absher tawakkalna sakani hafiz taqat nafath sehhaty ehsan jadarat najiz madrasati balady qiwa muqeem gosi"
        " ministry municipality court police hospital university embassy bank aramco sabic stc amazon jahez"
        " hungerstation careem uber hilal nassr netflix snapchat tiktok instagram"
    ),
}


@cache
def _organisation_terms(lang: str) -> frozenset[str]:
    return frozenset(t for word in _OTHER_ORGANISATIONS[lang].split() for t in analyze(word, lang)[1])


def other_organisations(terms: set[str] | list[str], lang: str) -> set[str]:
    """The question's terms that name another organisation's programme or service."""
    return set(terms) & _organisation_terms(lang)
