"""Texts: every key said by the code exists in Arabic and English; Arabic plurals and Hijri dates are right."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from flows.engine import ACTIONS, MENU_ITEMS
from locales import ARABIC_PLURAL_FORMS, LOCALES_DIR, compile_catalogs, mo_path, po_path, translator
from storage.models import RequestStatus

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"say": None, "option": (2,), "t": None, "n": (1,), "Invalid": None, "N_": None}


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    with po_path(lang).open("rb") as handle:
        return read_po(handle, locale=lang)


def extracted_keys() -> set[str]:
    """What `pybabel extract -F locales/babel.cfg` finds, through Babel's own extraction API."""
    method_map = [
        ("flows/**.py", "python"),
        ("handlers/**.py", "python"),
        ("bot/**.py", "python"),
        ("content/forms/*.yaml", "locales.extract:extract_form_keys"),
    ]
    keys = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        key = message[0] if isinstance(message, tuple) else message
        if key and re.fullmatch(r"[a-z][a-z0-9_.]*", key):
            keys.add(key)
    return keys


def test_every_key_in_the_code_and_the_form_has_arabic_and_english_text():
    keys = extracted_keys()
    keys |= {key for _id, key in MENU_ITEMS} | {key for _id, key in ACTIONS.values()}
    keys |= {f"status.{status.value}" for status in RequestStatus}
    assert len(keys) > 100
    for lang in ("ar", "en"):
        catalog = _catalog(lang)
        missing = sorted(k for k in keys if k not in catalog or not catalog[k].string)
        assert missing == [], f"{lang} lacks {missing}"


def test_every_catalog_key_is_found_by_extraction_so_pybabel_update_keeps_it():
    catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog("ar") if m.id}
    assert sorted(catalog - extracted_keys()) == []


def test_both_catalogs_have_the_same_keys_and_no_empty_text():
    ar, en = _catalog("ar"), _catalog("en")
    ar_keys = {m.id if isinstance(m.id, str) else m.id[0] for m in ar if m.id}
    en_keys = {m.id if isinstance(m.id, str) else m.id[0] for m in en if m.id}
    assert ar_keys == en_keys
    for message in list(ar) + list(en):
        if message.id:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(s.strip() for s in strings), message.id


def test_arabic_header_has_the_cldr_plural_rule_not_babels_default():
    assert _catalog("ar").plural_forms.replace(" ", "") == ARABIC_PLURAL_FORMS.replace(" ", "")
    assert "n%100>=11 ? 4 : 5" in po_path("ar").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "count, text",
    [
        (0, "0 يوم"),
        (1, "يوم واحد"),
        (2, "يومان"),
        (3, "3 أيام"),
        (10, "10 أيام"),
        (11, "11 يومًا"),
        (14, "14 يومًا"),
        (99, "99 يومًا"),
        (100, "100 يوم"),  # "other": Babel's default rule would pick the "many" form here
        (102, "102 يوم"),
        (103, "103 أيام"),
        (111, "111 يومًا"),  # "many": Babel's default rule would pick "other"
    ],
)
def test_arabic_plurals_pick_the_right_form(count, text):
    assert translator("ar").n("days", count) == text


def test_english_plurals():
    assert translator("en").n("days", 1) == "1 day"
    assert translator("en").n("days", 14) == "14 days"


def test_catalogs_are_compiled_from_the_sources(tmp_path):
    for lang in ("ar", "en"):
        mo_path(lang).unlink(missing_ok=True)
    written = compile_catalogs()
    assert sorted(p.parent.parent.name for p in written) == ["ar", "en"]
    assert all(mo_path(lang).stat().st_size > 1000 for lang in ("ar", "en"))
    assert LOCALES_DIR.name == "locales"


def test_dates_are_shown_gregorian_and_hijri():
    assert translator("ar").date(date(2026, 12, 9)) == "الأربعاء، 9 ديسمبر 2026 م (29 جمادى الآخرة 1448 هـ)"
    assert (
        translator("en").date(date(2026, 12, 9))
        == "Wednesday, December 9, 2026 (29 Jumada al-Akhirah 1448 AH)"
    )
    # 1 Ramadan 1447 AH is 18 February 2026 in the Umm al-Qura calendar.
    assert "1 رمضان 1447 هـ" in translator("ar").date(date(2026, 2, 18))


def test_a_missing_key_is_an_error_not_a_silent_key():
    with pytest.raises(KeyError):
        translator("ar")("no.such.key")
