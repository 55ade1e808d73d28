"""Rendering for WhatsApp: buttons, lists, the numbered fallback and the text limits, for every option the
assistant offers, in Arabic and English."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.engine import ACTIONS, MENU_ITEMS
from flows.form import load_form
from flows.messages import Attachment, AttachmentKind, Expect, Option, Outbound
from flows.notifications import render as render_notification
from flows.survey import render_poll
from handlers.whatsapp_render import body_within_limits, merge_turn, render, short_key, split_text
from locales import LANGUAGES, po_path, translator

ROOT = Path(__file__).resolve().parent.parent
FORM = load_form(ROOT / "content" / "forms" / "support_request.yaml", has_key=lambda key: True)


def every_offer(lang: str) -> list[Outbound]:
    """Every set of options the assistant offers (menus, form choices, edits, notices, the poll)."""
    t = translator(lang)
    offers = [
        Outbound(
            t("menu.greeting") if t.has("menu.greeting") else "…",
            options=tuple(Option(i, t(k)) for i, k in MENU_ITEMS),
            lang=lang,
        ),
        Outbound("…", options=tuple(Option(i, t(k)) for i, k in ACTIONS.values()), lang=lang),
        Outbound(
            "…",
            options=(
                Option("menu.main", t("option.menu")),
                Option("menu.unclear", t("option.unclear")),
                Option("menu.human", t("menu.option.human")),
            ),
            lang=lang,
        ),
        Outbound("…", options=(Option("lang.ar", "العربية"), Option("lang.en", "English")), lang=lang),
        Outbound("…", options=tuple(Option(f"e.{f.name}", t(f.label)) for f in FORM.fields), lang=lang),
        *render_poll({"token": "Zx81kq", "reference": "2026-00001"}, lang, reminder=True),
    ]
    for field in FORM.fields:
        if field.choices:
            options = [Option(f"c.{c.id}", t(c.label)) for c in field.choices]
            if not field.required:
                options.append(Option("form.skip", t("option.skip")))
            offers.append(Outbound(t(field.prompt), key=field.prompt, options=tuple(options), lang=lang))
    for status in ("approved", "rejected", "needs_info", "registered", "delivered"):
        payload = {"reference": "2026-00001", "status": status, "note": "ملاحظة", "fields": ["support_type"]}
        offers += render_notification("decision", payload, lang, FORM)
    offers += render_notification("overdue", {"reference": "2026-00001"}, lang, FORM)
    return offers


def catalog_keys(lang: str) -> list[str]:
    keys = []
    for line in po_path(lang).read_text(encoding="utf-8").splitlines():
        if line.startswith('msgid "') and line != 'msgid ""':
            keys.append(line[len('msgid "') : -1])
    return keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_offer_renders_within_whatsapps_limits_without_cutting_words(lang):
    t = translator(lang)
    for outbound in every_offer(lang):
        bodies = render(outbound)
        for body in bodies:
            assert body_within_limits(body) == [], (outbound.key, body)
        last = bodies[-1]
        if last["type"] != "interactive":
            continue
        action = last["interactive"]["action"]
        titles = [b["reply"]["title"] for b in action.get("buttons", [])]
        titles += [r["title"] for s in action.get("sections", []) for r in s["rows"]]
        for option in outbound.options:
            allowed = {option.label, t(short_key(option.id)) if t.has(short_key(option.id)) else None}
            row_numbers = {t.number(n) for n in range(1, 11)}
            assert any(title in allowed or title in row_numbers for title in titles)
        for title in titles:
            assert title in {o.label for o in outbound.options} | {
                t(short_key(o.id)) for o in outbound.options if t.has(short_key(o.id))
            } | {t.number(n) for n in range(1, 11)}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_key_renders_within_the_text_limit(lang):
    for key in catalog_keys(lang):
        raw = _raw(lang, key)
        for body in render(Outbound(raw, key=key, lang=lang)):
            assert body_within_limits(body) == [], key


def _raw(lang: str, key: str) -> str:
    from locales import _translations

    return _translations(lang).gettext(key)


def test_the_main_menu_is_a_list_with_short_labels_where_needed():
    t = translator("en")
    (body,) = render(Outbound("Hello", options=tuple(Option(i, t(k)) for i, k in MENU_ITEMS), lang="en"))
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    feedback = next(row for row in rows if row["id"] == "menu.feedback")
    assert feedback == {
        "id": "menu.feedback",
        "title": "Feedback",
        "description": "Suggestions and complaints",
    }
    assert body["interactive"]["action"]["button"] == "Options"


def test_three_options_are_reply_buttons():
    options = (Option("a", "نعم"), Option("b", "لا"), Option("menu.main", "القائمة"))
    (body,) = render(Outbound("هل توافق؟", options=options, expect=Expect.CHOICE))
    assert body == {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "هل توافق؟"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "a", "title": "نعم"}},
                    {"type": "reply", "reply": {"id": "b", "title": "لا"}},
                    {"type": "reply", "reply": {"id": "menu.main", "title": "القائمة"}},
                ]
            },
        },
    }


def test_a_label_too_long_for_a_button_without_a_short_label_makes_a_list():
    options = (Option("x", "خيار طويل جدا لا يتسع في زر واحد"), Option("y", "قصير"))
    (body,) = render(Outbound("اختر", options=options))
    assert body["interactive"]["type"] == "list"
    assert body["interactive"]["action"]["sections"][0]["rows"][0] == {
        "id": "x",
        "title": "1",
        "description": "خيار طويل جدا لا يتسع في زر واحد",
    }


def test_more_than_ten_options_become_a_numbered_text_list():
    options = tuple(Option(f"o{n}", f"Option {n}") for n in range(1, 13))
    (body,) = render(Outbound("Pick one", options=options, lang="en"))
    assert body["type"] == "text"
    assert "1. Option 1" in body["text"]["body"] and "12. Option 12" in body["text"]["body"]
    assert "Type the number" in body["text"]["body"]


def test_a_long_body_goes_first_as_its_own_message():
    text = "جملة طويلة. " * 120
    bodies = render(Outbound(text, options=(Option("a", "نعم"), Option("b", "لا"))))
    assert [b["type"] for b in bodies] == ["text", "interactive"]
    assert bodies[0]["text"]["body"] == text.strip()
    assert bodies[1]["interactive"]["body"]["text"] == "اختر من الخيارات:"


def test_texts_over_4096_characters_split_at_sentence_boundaries():
    sentence = "هذه جملة كاملة تنتهي بنقطة. "
    parts = split_text(sentence * 400)
    assert len(parts) >= 3 and all(len(p) <= 4096 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert "".join(p + " " for p in parts).strip() == (sentence * 400).strip()


def test_a_turns_texts_are_merged_into_the_message_with_options():
    merged = merge_turn(
        [Outbound("أهلًا بك."), Outbound("هذه القائمة:", options=(Option("a", "أ"),), expect=Expect.CHOICE)]
    )
    assert len(merged) == 1 and merged[0].text == "أهلًا بك.\n\nهذه القائمة:" and merged[0].options


def test_a_staff_file_is_uploaded_media_with_a_caption():
    file = Attachment(AttachmentKind.DOCUMENT, "file:/tmp/x.pdf", "application/pdf", 10, name="قرار.pdf")
    (body,) = render(Outbound("رد موظف الجمعية", extra={"attachment": file}))
    assert body["type"] == "document" and body["document"]["caption"] == "رد موظف الجمعية"
    assert body["document"]["filename"] == "قرار.pdf"
