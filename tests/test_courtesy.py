"""Greetings and thanks typed as a whole message are answered in kind with the menu: never searched in the
guides, never counted as an unanswered question, never forwarded to staff."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from flows.courtesy import courtesy
from storage.models import Escalation, FaqGap
from tests.conftest import Chat


async def _nothing_for_staff(app) -> None:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        assert (await session.execute(select(FaqGap))).scalars().all() == []
        assert (await session.execute(select(Escalation))).scalars().all() == []


@pytest.mark.parametrize(
    "typed, opening",
    [
        ("السلام عليكم", "وعليكم السلام"),
        ("السلام عليكم ورحمة الله وبركاته", "وعليكم السلام"),
        ("هلااا والله", "أهلًا وسهلًا"),
        ("صباح الخير", "أهلًا وسهلًا"),
        ("شكراً جزيلاً", "العفو"),
        ("الله يعطيكم العافية، ما قصرتوا", "العفو"),
        ("تمام", "على الرحب"),
        ("اوكي 👍🏻", "على الرحب"),
        ("🙏", "العفو"),
    ],
)
async def test_an_arabic_greeting_or_thanks_is_answered_in_kind_with_the_menu(app, typed, opening):
    chat = Chat(app)
    await chat.send("/start")
    await chat.send(typed)
    assert chat.last[0].text.startswith(opening)
    assert "menu.apply" in chat.option_ids  # the menu follows, so the person can go on
    await _nothing_for_staff(app)


async def test_an_ok_is_answered_in_the_persons_language_not_the_words(app):
    # «ok» in an Arabic conversation was taken as an English question: the reply switched to English.
    chat = Chat(app)
    await chat.send("/start")
    await chat.send("ok")
    assert chat.last[0].text.startswith("على الرحب")
    await _nothing_for_staff(app)


async def test_english_hello_and_thanks(app):
    chat = Chat(app, lang="en")
    await chat.send("/start")
    await chat.send("Hello there!")
    assert chat.last[0].text.startswith("Hello, welcome")
    await chat.send("thanks a lot")
    assert chat.last[0].text.startswith("You're welcome")
    await _nothing_for_staff(app)


async def test_a_question_after_a_greeting_is_still_answered_from_the_guides(app):
    chat = Chat(app)
    await chat.send("/start")
    await chat.send("السلام عليكم، متى يطلع الرد على طلبي؟")
    assert chat.keys[0] == "faq:committee-timeline"


@pytest.mark.parametrize("typed", ["الله", "شكرا بس متى يطلع الرد", "it", "😀", "👍 🙏", ""])
def test_only_a_whole_courtesy_counts(typed):
    assert courtesy(typed) is None
