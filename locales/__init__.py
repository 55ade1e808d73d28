"""Gettext catalogs (Arabic first, English second), compiled from the .po sources with Babel.

Every text the assistant says is a message key here: `msgid` is the key, `msgstr` the text.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from hijridate import Gregorian

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"
LANGUAGES = ("ar", "en")

# Babel's built-in Arabic rule swaps "many" (n%100 in 11..99) and "other" (100, 101, 102, ...).
# This is the CLDR order gettext expects: zero, one, two, few, many, other.
ARABIC_PLURAL_FORMS = (
    "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);"
)


def po_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def compile_catalogs(force: bool = False) -> list[Path]:
    """Compile each .po into its .mo when the .mo is missing or older: the same work as `pybabel compile`."""
    written = []
    for lang in LANGUAGES:
        po, mo = po_path(lang), mo_path(lang)
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        if lang == "ar":
            # read_po keeps the header's rule in the .mo; make sure it is the right one.
            catalog._num_plurals, catalog._plural_expr = (
                6,
                ARABIC_PLURAL_FORMS.split("plural=")[1].rstrip(";"),
            )
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        tmp.replace(mo)
        written.append(mo)
    return written


@cache
def _translations(lang: str) -> gettext.GNUTranslations:
    compile_catalogs()
    with mo_path(lang).open("rb") as handle:
        return gettext.GNUTranslations(handle)


@dataclass(frozen=True)
class Translator:
    lang: str

    def __call__(self, key: str, **params: object) -> str:
        text = _translations(self.lang).gettext(key)
        if text == key:
            raise KeyError(f"message key {key!r} has no {self.lang} text in locales/")
        return text.format(**params) if params else text

    def n(self, key: str, count: int, **params: object) -> str:
        """Plural message: the .po entry has msgid=key and msgid_plural=key (six forms in Arabic)."""
        text = _translations(self.lang).ngettext(key, key, count)
        if text == key:
            raise KeyError(f"message key {key!r} has no {self.lang} text in locales/")
        return text.format(count=self.number(count), **params)

    def has(self, key: str) -> bool:
        return _translations(self.lang).gettext(key) != key

    def number(self, value: float) -> str:
        return _number(value, self.lang)

    def date(self, value: date | datetime) -> str:
        """A date as people read it here: Gregorian and Hijri (Umm al-Qura)."""
        day = value.date() if isinstance(value, datetime) else value
        hijri = Gregorian(day.year, day.month, day.day).to_hijri()
        gregorian = format_date(day, format="full", locale=self.lang)
        if self.lang == "ar":
            return f"{gregorian} م ({hijri.day} {hijri.month_name('ar')} {hijri.year} هـ)"
        return f"{gregorian} ({hijri.day} {hijri.month_name('en')} {hijri.year} AH)"


@lru_cache(maxsize=4096)
def _number(value: float, lang: str) -> str:
    # Babel parses the locale and its pattern on every call: a form's «3/9» costs more than the rest of a step.
    return format_decimal(value, locale=lang)


def N_(key: str) -> str:  # noqa: N802  (the gettext convention)
    """Marks a message key used later (in a table) so that `pybabel extract -k N_` finds it."""
    return key


@cache
def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else "ar")


def warm() -> None:
    """Load what the first message would otherwise wait for (the start-up calls it): each catalog, and Babel's
    locale data for numbers and dates (a few tens of milliseconds per language, once per process)."""
    for lang in LANGUAGES:
        translator(lang).number(1)
        translator(lang).date(date(2000, 1, 1))
