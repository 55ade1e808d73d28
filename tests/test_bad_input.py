"""Bad input at every step gets a clear answer in the contact's language and loses nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from flows.engine import Mode
from storage.models import SupportRequest
from tests.conftest import FORM_STEPS, Chat, reach_step

ARABIC_LETTER = re.compile("[\u0621-\u064a]")
SQL = "Robert'); DROP TABLE support_request; --"
BAD_INPUTS = {
    "empty": "",
    "huge": "ب" * 5000,
    "emoji": "😀🙏🌹",
    "invisible": "\u200f\u200b\u202b\u2066\ufeff",
    "arabic_digits": "١٢٣٤٥٦٧٨٩٠١٢",
    "sql": SQL,
}


def snapshot(state):  # type: ignore[no-untyped-def]
    return (state.mode, state.step, dict(state.draft), state.editing)


@pytest.mark.parametrize("stop", FORM_STEPS)
async def test_every_bad_input_is_answered_clearly_and_keeps_the_state(app, stop):
    chat = Chat(app, user=f"bad-{stop}")
    await reach_step(chat, stop)
    before = snapshot(await chat.state())
    for name, text in BAD_INPUTS.items():
        if stop == "description" and name == "sql":
            continue  # a legitimate description: covered below
        replies = await chat.send(text)
        assert replies, (stop, name)
        assert all(ARABIC_LETTER.search(reply.text) for reply in replies), (stop, name)
        assert all("Traceback" not in reply.text for reply in replies)
        assert snapshot(await chat.state()) == before, (stop, name)
    await chat.send(option="c.forged-by-someone")
    assert chat.keys[0] == "error.unknown_option"
    assert snapshot(await chat.state()) == before


async def test_the_menu_answers_bad_input_and_stays_the_menu(app):
    chat = Chat(app)
    await chat.send("/start")
    for name, text in BAD_INPUTS.items():
        replies = await chat.send(text)
        assert replies, name
        if name == "sql":
            # Latin letters: answered in English, and never as if it were a real question.
            assert chat.keys[0] in ("faq.no_answer", "faq.no_answer_forwarded", "faq.did_you_mean")
        else:
            assert all(ARABIC_LETTER.search(reply.text) for reply in replies), name
        assert (await chat.state()).mode == Mode.MENU
    await chat.send(option="menu.nonexistent")
    assert chat.keys[0] == "error.unknown_option"


async def test_bad_input_is_answered_in_english_for_an_english_contact(app):
    chat = Chat(app, lang="en")
    await reach_step(chat, "national_id")
    await chat.send("😀")
    assert chat.keys[0] == "error.id_digits"
    assert "digits only" in chat.text
    await chat.send("1000000009")
    assert chat.keys[0] == "error.id_check" and "check digit" in chat.text


async def test_sql_like_text_is_stored_verbatim_as_a_description(app):
    chat = Chat(app)
    await reach_step(chat, "description")
    await chat.send(SQL)
    assert chat.keys[-1] == "form.id_photo.prompt"
    assert (await chat.state()).draft["description"] == SQL
    async with app.db.transaction() as session:
        assert (await session.execute(select(SupportRequest))).all() == []  # the table is still there


async def test_a_wrong_id_explains_and_asks_again_without_locking_out(app):
    chat = Chat(app)
    await reach_step(chat, "national_id")
    for _ in range(5):
        await chat.send("1000000009")
        assert chat.keys == ["error.id_check", "form.national_id.prompt"]
    await chat.send("1000000008")
    assert chat.keys == ["form.mobile.prompt"]


async def test_files_with_wrong_type_or_size_are_refused_clearly(app):
    from tests.conftest import pdf, photo

    chat = Chat(app)
    await reach_step(chat, "id_photo")
    await chat.send(file=photo(size=30 * 1024 * 1024))
    assert chat.keys[0] == "error.file_size" and "10" in chat.text
    await chat.send(file=photo(name="x.gif", mime="image/gif"))
    assert chat.keys[0] == "error.file_type"
    await chat.send(file=pdf())
    assert chat.keys[0] == "error.photo_needed"
    await chat.send("هذا نص وليس ملفا")
    assert chat.keys[0] == "error.attachment_expected"
    await chat.send(file=photo())
    assert chat.keys == ["form.proof_document.prompt"]
