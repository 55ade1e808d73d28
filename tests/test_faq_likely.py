"""Issue 13: the "likely" answer in a conversation: «أظنك تسأل عن: …», the answer, and yes / no buttons;
«no» offers the other suggestions, then a person."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.app import FaqPort, build_app
from flows.faq import FaqIndex
from tests.conftest import Chat, make_settings

QUESTION = "متى يطلع الرد على طلبي"


@pytest.fixture
async def likely_app(sqlite_url, tmp_path, clock, shared_faq):  # type: ignore[no-untyped-def]
    """The real guides with thresholds that make every ranked answer "likely" (never confident)."""
    entries = shared_faq.entries
    settings = shared_faq.index.settings
    always_likely = {
        mode: replace(getattr(settings, mode), confident_at=1.01, likely_at=0.0, unsure_at=0.0)
        for mode in ("lexical", "semantic")
    }
    index = FaqIndex.build(entries, replace(settings, **always_likely), embeddings=False)
    built = await build_app(
        make_settings(sqlite_url, tmp_path), clock=clock, faq=FaqPort(entries, index=index)
    )
    yield built
    await built.close()


async def test_a_likely_answer_asks_whether_it_is_what_was_meant(likely_app):
    chat = Chat(likely_app)
    await chat.send("/start")
    await chat.send(QUESTION)
    assert chat.keys == ["faq:committee-timeline"]
    assert chat.text.startswith("أظنك تسأل عن:")
    assert "لا تقل عن أسبوعين" in chat.text
    labels = [option.label for option in chat.last[-1].options]
    assert labels[:2] == ["نعم، هذا ما أقصده", "لا، سؤالي مختلف"]


async def test_yes_thanks_and_returns_to_the_menu(likely_app):
    chat = Chat(likely_app)
    await chat.send("/start")
    await chat.send(QUESTION)
    await chat.press("نعم، هذا ما أقصده")
    assert chat.keys == ["faq.likely_glad"]
    assert "menu.main" in chat.option_ids


async def test_no_offers_the_other_suggestions_then_a_person(likely_app):
    chat = Chat(likely_app)
    await chat.send("/start")
    await chat.send(QUESTION)
    await chat.press("لا، سؤالي مختلف")
    assert chat.keys == ["faq.likely_no"]
    suggestions = [o for o in chat.last[-1].options if o.id.startswith("faq.")]
    assert 1 <= len(suggestions) <= 2
    assert all("committee" not in o.label for o in suggestions)
    assert "menu.human" in chat.option_ids
    # A suggestion answers from the guides.
    await chat.press(suggestions[0].id)
    assert chat.keys[0].startswith("faq:") and chat.keys[0] != "faq:committee-timeline"


async def test_in_english_the_buttons_are_in_english(likely_app):
    chat = Chat(likely_app, lang="en")
    await chat.send("/start")
    await chat.send("When will I hear back about my request?")
    assert chat.text.startswith("I think you are asking about:")
    labels = [option.label for option in chat.last[-1].options]
    assert labels[:2] == ["Yes, that is what I mean", "No, my question is different"]
