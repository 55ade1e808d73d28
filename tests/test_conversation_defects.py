"""Issue 9's conversation defects, each as a beneficiary meets it (Arabic first, English where the text differs)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.delivery import render_row
from flows.decisions import DecisionService
from flows.engine import Mode
from flows.faq.ranker import FaqResult
from flows.lifecycle import Action
from flows.messages import Outbound
from locales import translator
from storage.models import Contact, FaqGap, SupportRequest
from storage.outbox import OutboxWorker, Sent
from storage.survey import Survey
from tests.conftest import ARABIC_ANSWERS, ENGLISH_ANSWERS, Chat, fill_form, reach_step
from tests.test_staff_desk import api, start_bot  # noqa: F401  (fixtures: the fake Bot API and the bot)

ROOT = Path(__file__).resolve().parent.parent


async def submitted(app, user: str = "u1", lang: str | None = None) -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(app, user=user, lang=lang)
    await fill_form(chat, ENGLISH_ANSWERS if lang == "en" else ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    return chat


class ConsoleInbox:
    """A console sender for the outbox: keeps what it was given, as the terminal would print it."""

    def __init__(self) -> None:
        self.messages: list[Outbound] = []

    async def __call__(self, contact: Contact, messages: Sequence[Outbound]) -> Sent:
        self.messages.extend(messages)
        return Sent()


async def deliver_outbox(app) -> ConsoleInbox:  # type: ignore[no-untyped-def]
    inbox = ConsoleInbox()
    worker = OutboxWorker(app.db, app.clock, {"console": inbox}, render_row(app), max_attempts=3)
    await worker.drain()
    return inbox


# ---------------------------------------------------------------- 1. every list of options can be chosen


@pytest.mark.parametrize("typed", ["1", "١", "حالة طلبي", "حاله طلبي"])
async def test_after_submitting_the_offered_status_option_can_be_typed(app, typed):
    chat = await submitted(app)
    assert [o.id for o in chat.last[-1].options] == ["menu.status", "menu.main"]
    await chat.send(typed)
    assert chat.keys == ["status.list"], typed
    assert "2026-00001" in chat.text


@pytest.mark.parametrize("typed", ["2", "٢", "القائمة الرئيسية"])
async def test_after_submitting_the_offered_menu_option_can_be_typed(app, typed):
    chat = await submitted(app)
    await chat.send(typed)
    assert chat.keys == ["menu.title"], typed


@pytest.mark.parametrize("typed", ["1", "My request status", "my request status"])
async def test_after_submitting_in_english_the_options_can_be_typed(app, typed):
    chat = await submitted(app, lang="en")
    await chat.send(typed)
    assert chat.keys == ["status.list"], typed
    assert "2026-00001" in chat.text


@pytest.mark.parametrize("typed", ["1", "١", "حالة طلبي"])
async def test_after_an_approval_notice_its_options_can_be_typed(any_app, typed):
    app = any_app  # SQLite and PostgreSQL: the notice is looked up in the outbox
    chat = await submitted(app)
    await chat.send("/start")  # the newest list the contact saw in a turn is now the main menu
    await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
    inbox = await deliver_outbox(app)
    assert inbox.messages[-1].key == "notify.approved"
    assert [o.id for o in inbox.messages[-1].options] == ["menu.status", "menu.main"]
    await chat.send(typed)
    assert chat.keys == ["status.list"], typed
    assert "تمت الموافقة" in chat.text


async def test_after_a_rejection_notice_number_one_reaches_a_person(app):
    chat = await submitted(app)
    await chat.send("/start")
    await DecisionService(app.db, app.clock, app.form).decide(
        "2026-00001", Action.REJECT, "staff:1", "الدخل أعلى من الحد"
    )
    await deliver_outbox(app)
    await chat.send("١")
    assert chat.keys == ["handoff.recorded"]


async def test_the_notice_options_apply_once_then_the_newest_reply_counts(any_app):
    app = any_app
    chat = await submitted(app)
    await chat.send("/start")
    await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
    await deliver_outbox(app)
    await chat.send("2")  # "Main menu" of the notice
    assert chat.keys == ["menu.title"]
    await chat.send("2")  # now "Apply for support" of the menu just shown
    assert chat.keys == ["apply.already_open"]


async def poll_delivered(app, clock, lang: str | None = None) -> Chat:  # type: ignore[no-untyped-def]
    chat = await submitted(app, lang=lang)
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=timedelta(hours=1))
    for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
        assert (await decisions.decide("2026-00001", action, "staff:1")).ok
    await deliver_outbox(app)
    clock.advance(hours=1)
    inbox = await deliver_outbox(app)
    assert inbox.messages[-1].key == "survey.question"
    return chat


@pytest.mark.parametrize("typed, rating", [("5", 5), ("٥", 5), ("1", 1), ("ممتاز", 5), ("جيد جدا", 4)])
async def test_after_a_poll_the_rating_can_be_typed_by_number_or_words(app, clock, typed, rating):
    chat = await poll_delivered(app, clock)
    await chat.send(typed)
    assert chat.keys[:2] == ["survey.thanks_rating", "survey.comment_prompt"], typed
    async with app.db.transaction() as session:
        survey = (await session.execute(select(Survey))).scalar_one()
    assert survey.rating == rating


async def test_a_near_rating_word_is_named_before_the_thanks(app, clock):
    chat = await poll_delivered(app, clock)
    await chat.send("ممتازة")
    assert chat.keys[:2] == ["choice.understood", "survey.thanks_rating"]
    assert "اخترت: ممتاز ⭐⭐⭐⭐⭐" in chat.text


async def test_after_a_poll_in_english_excellent_is_five(app, clock):
    chat = await poll_delivered(app, clock, lang="en")
    await chat.send("excellent")
    assert chat.keys[0] == "survey.thanks_rating"
    async with app.db.transaction() as session:
        assert (await session.execute(select(Survey))).scalar_one().rating == 5


async def test_poll_options_are_numbered_as_their_stars(app, clock):
    from flows.survey import render_poll

    (poll,) = render_poll({"token": "t", "reference": "2026-00001"}, "ar", reminder=False)
    assert [o.id for o in poll.options] == [f"rate.t.{value}" for value in (1, 2, 3, 4, 5)]


def test_guide_answers_name_only_options_that_exist():
    labels = {lang: set() for lang in ("ar", "en")}
    from flows.engine import ACTIONS, MENU_ITEMS

    for lang in labels:
        t = translator(lang)
        labels[lang] = {t(key) for _id, key in MENU_ITEMS} | {t(key) for _id, key in ACTIONS.values()}
        labels[lang].add(t("option.menu"))
    named = {"ar": re.compile("«([^»]+)»"), "en": re.compile('"([^"]+)"')}
    for path in sorted((ROOT / "content" / "guides").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in data.get("entries", []):
            for lang, pattern in named.items():
                for name in pattern.findall(entry["answer"][lang]):
                    assert name in labels[lang], (path.name, entry["id"], name)


# ---------------------------------------------------------------- 4. "did you mean" inside the form


async def ask_unsure_question_at_children(app) -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(app)
    await reach_step(chat, "children")
    assert chat.keys[-1] == "form.children.prompt"
    await chat.send("ما هي شروط الدعم؟")
    return chat


UNSURE = "ما هي شروط الدعم؟"


class UnsureFaq:
    """The guides' real index, except that one question gets a "did you mean" list: which questions the
    ranker is unsure about moves with its tuning, and these tests are about the list, not the ranker."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real

    def __call__(self, text: str):  # type: ignore[no-untyped-def]
        result = self.real(text)
        if text != UNSURE:
            return result
        ids = ("eligibility", "support-types", "required-information")
        suggestions = tuple(self.real.entry(entry_id) for entry_id in ids)
        return FaqResult(status="unsure", entry=None, score=0.4, suggestions=suggestions, lang="ar")

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)


async def unsure_question(app) -> str:  # type: ignore[no-untyped-def]
    """A question the guides answer only with a list of suggestions."""
    app.service.faq = UnsureFaq(app.service.faq)
    return UNSURE


async def test_in_the_form_a_number_chooses_the_suggestion_not_the_answer(app):
    question = await unsure_question(app)
    chat = Chat(app)
    await reach_step(chat, "children")
    await chat.send(question)
    assert chat.keys[-1] == "faq.did_you_mean"
    assert chat.option_ids[0] == "faq.1" and "form.back" in chat.option_ids
    await chat.send("1")
    assert chat.keys[0].startswith("faq:"), chat.keys
    assert chat.keys[-1] == "form.children.prompt"
    state = await chat.state()
    assert "children" not in state.draft and state.mode == Mode.FORM
    await chat.send("3")
    assert (await chat.state()).draft["children"] == 3


async def test_in_the_form_back_to_the_question_asks_the_field_again(app):
    question = await unsure_question(app)
    chat = Chat(app)
    await reach_step(chat, "children")
    await chat.send(question)
    await chat.press("form.back")
    assert chat.keys[-1] == "form.children.prompt"
    assert "children" not in (await chat.state()).draft


async def test_in_the_form_a_number_outside_the_suggestions_is_not_saved(app):
    question = await unsure_question(app)
    chat = Chat(app)
    await reach_step(chat, "children")
    await chat.send(question)
    await chat.send("9")
    assert chat.keys[0] == "error.choose_option"
    assert "children" not in (await chat.state()).draft


# ---------------------------------------------------------------- 5. cancelling a long form asks first


async def test_cancel_after_many_answers_asks_before_deleting_and_no_keeps_the_step(app):
    chat = Chat(app)
    await reach_step(chat, "description")  # nine answers given
    await chat.send("الغاء")
    assert chat.keys == ["cancel.confirm"]
    assert "هل تريد إلغاء الطلب وحذف ما كتبته؟" in chat.text
    await chat.send("لا")
    assert chat.keys[-1] == "form.description.prompt"
    state = await chat.state()
    assert state.mode == Mode.FORM and len(state.draft) == 8
    await chat.send("إلغاء")
    await chat.send("نعم")
    assert chat.keys[0] == "form.cancelled"
    assert (await chat.state()).draft == {}


async def test_cancel_confirmation_by_number_and_in_english(app):
    chat = Chat(app, lang="en")
    await reach_step(chat, "description", answers=ENGLISH_ANSWERS)
    await chat.send("cancel")
    assert chat.keys == ["cancel.confirm"] and "delete what you have written" in chat.text
    await chat.send("2")
    assert chat.keys[-1] == "form.description.prompt"
    await chat.send("cancel")
    await chat.send("yes")
    assert chat.keys[0] == "form.cancelled"


async def test_cancel_with_few_answers_still_cancels_at_once(app):
    chat = Chat(app)
    await reach_step(chat, "mobile")  # two answers
    await chat.send("الغاء")
    assert chat.keys[0] == "form.cancelled"


# ---------------------------------------------------------------- 6. coming back is noticed at the greeting


async def test_the_greeting_offers_to_continue_an_unfinished_request(app, clock):
    chat = Chat(app)
    await reach_step(chat, "mobile")
    clock.advance(hours=5)
    await chat.send("/start")  # what `python -m bot chat --contact …` sends first
    assert chat.keys == ["menu.greeting", "form.resume"]
    assert "resume.continue" in chat.option_ids
    await chat.send("1")
    assert chat.keys[-1] == "form.mobile.prompt"


async def test_the_english_greeting_offers_to_continue_and_names_the_association(app, clock):
    chat = Chat(app, lang="en")
    await reach_step(chat, "mobile", answers=ENGLISH_ANSWERS)
    await chat.send("/start")
    assert chat.keys == ["menu.greeting", "form.resume"]
    assert "جمعية ربي الطفولة" in chat.last[0].text and "children's charity" in chat.last[0].text


async def test_the_greeting_without_a_draft_is_the_plain_menu(app):
    chat = Chat(app)
    await chat.send("/start")
    assert chat.keys == ["menu.greeting"]


# ---------------------------------------------------------------- 7. near matches and money


@pytest.mark.parametrize("typed", ["سكن", "سكني", "السكن", "دعم سكتي"])
async def test_a_partial_or_near_choice_is_accepted_and_confirmed(app, typed):
    chat = Chat(app)
    await reach_step(chat, "support_type")
    await chat.send(typed)
    assert chat.keys[-1] == "form.description.prompt", typed
    assert "اخترت: دعم سكني" in chat.text
    assert (await chat.state()).draft["support_type"] == "housing"


async def test_a_near_choice_in_english_is_confirmed(app):
    chat = Chat(app, lang="en")
    await reach_step(chat, "support_type", answers=ENGLISH_ANSWERS)
    await chat.send("housing")
    assert "You chose: Housing support" in chat.text
    assert (await chat.state()).draft["support_type"] == "housing"


async def test_an_ambiguous_word_is_not_guessed(app):
    chat = Chat(app)
    await reach_step(chat, "support_type")
    await chat.send("دعم")
    assert chat.keys[0] == "error.choose_option"
    assert "support_type" not in (await chat.state()).draft


@pytest.mark.parametrize("typed", ["3,500 ريال", "3500 ريال", "٣٬٥٠٠", "٣٥٠٠ ر.س", "SAR 3,500", "3،500"])
async def test_income_accepts_separators_currency_and_arabic_digits(app, typed):
    chat = Chat(app)
    await reach_step(chat, "monthly_income")
    await chat.send(typed)
    assert chat.keys[-1] == "form.support_type.prompt", (typed, chat.text)
    assert (await chat.state()).draft["monthly_income"] == 3500


async def test_a_wrong_amount_gets_a_money_shaped_example(app):
    chat = Chat(app)
    await reach_step(chat, "monthly_income")
    await chat.send("ثلاثة آلاف")
    assert chat.keys[0] == "error.money"
    assert "3500" in chat.text or "٣٥٠٠" in chat.text
    assert "مثل 4" not in chat.text


# ---------------------------------------------------------------- 8. the unanswered-question list


@pytest.mark.parametrize("typed", ["#", "7", "١٢٣", "خروج", "exit", "😀", "/start"])
async def test_numbers_symbols_and_exit_words_are_not_unanswered_questions(app, typed):
    chat = Chat(app)
    await chat.send("/start")
    await chat.send("/menu")
    await chat.send(typed)
    async with app.db.transaction() as session:
        gaps = (await session.execute(select(FaqGap))).scalars().all()
    assert gaps == [], (typed, [g.key for g in gaps])


async def test_a_real_unanswered_question_is_still_counted(app):
    chat = Chat(app)
    await chat.send("/start")
    await chat.send("هل تقدمون دورات في البرمجة للأمهات")
    async with app.db.transaction() as session:
        gaps = (await session.execute(select(FaqGap))).scalars().all()
    assert len(gaps) == 1


async def test_a_number_after_submission_is_not_recorded_as_a_question(app):
    chat = await submitted(app)
    await chat.send("9")
    async with app.db.transaction() as session:
        assert (await session.execute(select(FaqGap))).scalars().all() == []
        assert len((await session.execute(select(SupportRequest))).scalars().all()) == 1


# ---------------------------------------------------------------- the same through a real channel


async def test_on_telegram_typing_a_number_after_submitting_chooses_the_option(app, api, start_bot):
    from tests.test_staff_desk import USER, Beneficiary

    await start_bot()
    chat = Chat(app, user=str(USER), channel="telegram")
    await fill_form(chat, ARABIC_ANSWERS)
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    replies = await Beneficiary(api).say("١")
    assert any("لديك طلب واحد" in reply and "2026-00001" in reply for reply in replies), replies
