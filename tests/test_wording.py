"""Issue 9's Arabic wording: counted nouns agree through the plural rules, the answer date is a "from" date,
no Latin inside Arabic, a declaration that fits a woman and a man, an English greeting that names the
association."""

from __future__ import annotations

import hashlib
import re
import string
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from bot.app import build_app
from flows.form import load_form
from locales import po_path, translator
from tests.conftest import ARABIC_ANSWERS, Chat, fill_form, make_settings

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (0, 1, 2, 3, 10, 11, 100, 101)
# CLDR plural categories in the order of the Arabic catalog's forms (nplurals=6).
FORM_OF_CATEGORY = {"zero": 0, "one": 1, "two": 2, "few": 3, "many": 4, "other": 5}
TANWEEN_FATH = "\u064b"


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with po_path(lang).open("rb") as handle:
        return read_po(handle, locale=lang)


def plural_keys() -> list[str]:
    return sorted(m.id[0] for m in _catalog("ar") if m.id and isinstance(m.id, tuple))


def _params(text: str) -> dict[str, str]:
    """Stand-ins for the placeholders other than the count."""
    names = {name for _literal, name, _spec, _conv in string.Formatter().parse(text) if name}
    return {name: "X" for name in names - {"count"}}


def test_the_messages_with_a_count_are_plural_entries():
    assert {
        "days",
        "status.count",
        "form.answered",
        "form.intro",
        "form.expired",
        "error.too_long",
        "error.name_too_long",
        "error.message_too_long",
        "error.id_length",
        "digest.count",
        "digest.more",
        "alert.outbox_dead",
    } <= set(plural_keys())


@pytest.mark.parametrize("key", plural_keys())
def test_every_arabic_count_takes_the_form_of_its_cldr_category(key):
    arabic = Locale.parse("ar")
    entry = _catalog("ar")[key]
    forms = entry.string
    assert len(forms) == 6 and all(f.strip() for f in forms), key
    t = translator("ar")
    for n in COUNTS:
        category = arabic.plural_form(n)
        params = _params(forms[FORM_OF_CATEGORY[category]])
        rendered = t.n(key, n, **params)
        expected = forms[FORM_OF_CATEGORY[category]].format(count=t.number(n), **params)
        assert rendered == expected, (key, n, category)
        number = re.search(rf"(?<!\d){n}(?!\d)\s+(\S+)", rendered)
        if category == "many" and number:  # 11..99: the noun is singular with tanween, «11 معلومةً»
            assert TANWEEN_FATH in number.group(1), (key, n, rendered)
        if category == "other" and number:  # 100, 101: singular without tanween, «100 حرف»
            assert TANWEEN_FATH not in number.group(1), (key, n, rendered)
    assert forms[3] != forms[5], key  # «3 أيام» is not «100 يوم»


@pytest.mark.parametrize("key", plural_keys())
def test_every_english_count_is_singular_only_for_one(key):
    t = translator("en")
    forms = _catalog("en")[key].string
    for n in COUNTS:
        params = _params(forms[0 if n == 1 else 1])
        assert t.n(key, n, **params) == forms[0 if n == 1 else 1].format(count=t.number(n), **params)


def test_no_arabic_message_writes_a_counted_noun_by_hand():
    counted = re.compile(r"\{(count|max|hours|days)\}\s*[\u0621-\u064a]")
    for message in _catalog("ar"):
        if message.id and isinstance(message.id, str):
            assert not counted.search(message.string), message.id


@pytest.mark.parametrize(
    "n, text",
    [(11, "سنطلب منك 11 معلومةً"), (3, "سنطلب منك 3 معلومات"), (100, "سنطلب منك 100 معلومة")],
)
def test_the_form_intro_agrees_with_its_count(n, text):
    assert translator("ar").n("form.intro", n).startswith(text)


def test_limits_in_characters_agree():
    t = translator("ar")
    assert "100 حرف)" in t.n("error.name_too_long", 100)
    assert "50 حرفًا" in t.n("error.too_long", 50)
    assert "حرفًا" not in t.n("error.too_long", 1000)


ALLOWED_LATIN = {"Language", "English", "Choose", "your", "language", "PDF", "JPG", "PNG", "CSAT", "XXXXXXXX"}


def test_arabic_messages_hold_no_latin_words_but_commands_and_file_types():
    for message in _catalog("ar"):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            # placeholders, commands, fields, command-line options with their values, setting names, key names
            text = re.sub(
                r"\{[^}]*\}|/[a-z_]+|\b[a-z]+_[a-z_]+\b|--[a-z]+(?: [a-z,]+)?|\bBOT_[A-Z_]+\b|\bCtrl\+[A-Z]\b",
                "",
                text,
            )
            latin = set(re.findall(r"[A-Za-z]+", text)) - ALLOWED_LATIN
            assert not latin, (message.id, latin)


def test_the_answer_date_is_a_date_from_which_not_by_which():
    ar, en = translator("ar"), translator("en")
    for key in ("submitted.text", "submitted.again", "status.due"):
        params = {"reference": "2026-00001", "days": "14 يومًا", "date": "D"}
        assert "موعد الرد المتوقع: ابتداءً من D" in ar(key, **params), key
        assert "بحلول" not in ar(key, **params), key
        assert "from D onwards" in en(key, **params), key
        assert " by " not in en(key, **params), key


async def test_confirmation_and_status_screen_say_from_the_date(app):
    chat = Chat(app)
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert "لا تقل عن أسبوعين" in chat.text
    assert "موعد الرد المتوقع: ابتداءً من الأربعاء، 9 ديسمبر 2026" in chat.text
    await chat.press("menu.status")
    assert "موعد الرد المتوقع: ابتداءً من الأربعاء، 9 ديسمبر 2026" in chat.text


def test_the_declaration_fits_a_woman_and_a_man():
    text = translator("ar")("declaration.text")
    assert "وأتحمّل مسؤولية صحتها" in text
    assert "مسؤول " not in text and "وأنني" not in text


def test_the_declaration_says_the_applicant_applies_and_consents_as_the_childrens_guardian():
    arabic, english = translator("ar")("declaration.text"), translator("en")("declaration.text")
    assert "بصفتي وليّ أمر الأطفال" in arabic and "نيابةً عنهم" in arabic
    assert "as the guardian of the children" in english and "on their behalf I consent" in english


# The declaration version is stored with every request: a new text needs a new version.
DECLARATION_VERSIONS = {"2026-11-v2": "e7174573", "2026-11-v3": "6990fd3c"}  # v3: as the guardian


def test_the_declaration_version_changes_with_its_text():
    form = load_form(ROOT / "content" / "forms" / "support_request.yaml")
    texts = translator("ar")(form.declaration_text) + "\n" + translator("en")(form.declaration_text)
    digest = hashlib.sha256(texts.encode("utf-8")).hexdigest()[:8]
    assert DECLARATION_VERSIONS.get(form.declaration_version) == digest, (
        f"the declaration text changed: give it a new version in the form file (text hash {digest})"
    )


async def test_the_report_names_the_time_zone_in_arabic(sqlite_url, tmp_path, clock, faq_cache):
    from flows.reports import compute_report, format_text

    app = await build_app(make_settings(sqlite_url, tmp_path, faq_cache=faq_cache), clock=clock)
    try:
        report = await compute_report(app.db, clock.now(), None, None, tz="Asia/Riyadh")
        period = format_text(report, "ar").splitlines()[1]
    finally:
        await app.close()
    assert "بتوقيت الرياض" in period and "Asia" not in period
