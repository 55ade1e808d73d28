"""Answering questions from the guides: a confident answer, a likely one with yes / no, or suggestions;
an unanswered question is recorded (and forwarded to staff when it is long enough)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flows.choices import OPTION_KEYS, worth_recording
from flows.courtesy import REPLIES, courtesy
from flows.events import QuestionUnanswered
from flows.form import FormDefinition
from flows.menu import ACTIONS, MENU_ITEMS, menu
from flows.messages import Inbound, Option
from flows.survey_text import RATING_WORDS
from flows.text import fold
from flows.turn import Mode, Turn
from locales import translator


def on_menu(turn: Turn, inbound: Inbound, text: str, choice: str | None) -> None:
    if choice is not None and choice.startswith("faq."):
        answer_suggestion(turn, choice)
        _after_answer(turn)
        return
    if inbound.attachments and not text:
        turn.say("error.file_not_expected")
        menu(turn, greet=False)
        return
    if not text:
        turn.say("error.empty_menu")
        menu(turn, greet=False)
        return
    kind = courtesy(text)
    if kind is not None:  # a greeting or thanks: answered in kind, not searched in the guides
        turn.say(REPLIES[kind])
        menu(turn, greet=False)
        return
    answer_question(turn, text)
    _after_answer(turn)


on_ask = on_menu  # waiting for a question: the same as the menu, which answers typed questions too


def _after_answer(turn: Turn) -> None:
    if turn.state.mode == Mode.ASK:
        turn.state.mode = Mode.MENU


def _action_option(entry: Any, t: Any) -> list[Option]:
    if entry.action in ACTIONS:
        option_id, key = ACTIONS[entry.action]
        return [Option(option_id, t(key))]
    return []


def answer_question(turn: Turn, text: str) -> str:
    """Answer free text from the guides. Returns the FAQ status: confident | likely | unsure | none."""
    ctx, state = turn.ctx, turn.state
    result = ctx.faq(text) if ctx.faq is not None else None
    status = getattr(result, "status", "none")
    lang = getattr(result, "lang", state.lang) if result is not None else state.lang
    if lang != state.lang and not any(ch.isascii() and ch.isalpha() for ch in text):
        lang = state.lang  # emoji, digits or symbols only: keep the contact's language
    t = translator(lang)
    if status == "confident":
        entry = result.entry
        source = t("faq.source", guide=entry.guide_title.get(lang, ""), section=entry.section.get(lang, ""))
        options = _action_option(entry, t)
        options.append(Option("menu.main", t("option.menu")))
        turn.say_text(
            f"{entry.answer[lang]}\n\n{source}", key=f"faq:{entry.id}", options=tuple(options), lang=lang
        )
        return status
    if status == "likely":
        _answer_likely(turn, result.entry, result.suggestions, lang)
        return status
    if status == "unsure" and result.suggestions:
        state.faq_suggestions = [entry.id for entry in result.suggestions[:3]]
        options = [
            Option(f"faq.{index}", entry.questions[lang][0][:100])
            for index, entry in enumerate(result.suggestions[:3], start=1)
        ]
        options.append(Option("menu.human", t("faq.none_of_these")))
        turn.say_text(t("faq.did_you_mean"), key="faq.did_you_mean", options=tuple(options), lang=lang)
        return status
    # Only text with letters that is not an option, a command or an exit word is an unanswered question.
    worth = worth_recording(text, option_words(tuple(ctx.all_forms())))
    forward = worth and len(fold(text)) >= 6
    if worth:
        turn.events.append(QuestionUnanswered(key=_gap_key(text), lang=lang, text=text, forward=forward))
    if forward:
        turn.say_text(
            t("faq.no_answer_forwarded"),
            key="faq.no_answer_forwarded",
            options=(Option("menu.main", t("option.menu")),),
            lang=lang,
        )
    else:
        turn.say_text(
            t("faq.no_answer"),
            key="faq.no_answer",
            options=(Option("menu.human", t("menu.option.human")), Option("menu.main", t("option.menu"))),
            lang=lang,
        )
    return "none"


@cache
def option_words(forms: tuple[FormDefinition, ...]) -> tuple[str, ...]:
    """Every option label the assistant shows, in both languages: typed alone, it is not a question."""
    keys = OPTION_KEYS + tuple(key for _id, key in (*MENU_ITEMS, *ACTIONS.values()))
    keys += tuple(RATING_WORDS.values())
    keys += tuple(c.label for form in forms for f in form.fields for c in f.choices)
    return tuple(translator(lang)(key) for key in keys for lang in ("ar", "en"))


def _gap_key(text: str) -> str:
    try:
        from flows.faq import gap_key
    except ImportError:  # guides not installed: keep a digit-free folded form
        return re.sub(r"\d+", "#", fold(text))[:200]
    return gap_key(text)


def _answer_likely(turn: Turn, entry: Any, others: tuple, lang: str) -> None:
    """«I think you are asking about: …» + the answer + yes / no; «no» offers the other suggestions, then a
    person. The other suggestions wait in `faq_suggestions` behind the answered entry's id."""
    t = translator(lang)
    turn.state.faq_suggestions = [entry.id, *(other.id for other in others[:3])]
    source = t("faq.source", guide=entry.guide_title.get(lang, ""), section=entry.section.get(lang, ""))
    text = f"{t('faq.likely', question=entry.questions[lang][0])}\n\n{entry.answer[lang]}\n\n{source}"
    options = [Option("faq.yes", t("faq.likely_yes")), Option("faq.no", t("faq.likely_no"))]
    options += _action_option(entry, t)
    turn.say_text(text, key=f"faq:{entry.id}", options=tuple(options), lang=lang)


def _likely_reply(turn: Turn, choice: str) -> None:
    state, t = turn.state, turn.t
    if choice == "faq.yes":
        turn.say_text(
            t("faq.likely_glad"), key="faq.likely_glad", options=(Option("menu.main", t("option.menu")),)
        )
        return
    finder = getattr(turn.ctx.faq, "entry", None)
    others = [finder(entry_id) for entry_id in state.faq_suggestions[1:]] if callable(finder) else []
    others = [entry for entry in others if entry is not None]
    state.faq_suggestions = [entry.id for entry in others]
    options = [
        Option(f"faq.{index}", entry.questions[state.lang][0][:100])
        for index, entry in enumerate(others, start=1)
    ]
    options.append(Option("menu.human", t("faq.none_of_these") if others else t("menu.option.human")))
    options.append(Option("menu.main", t("option.menu")))
    text = t("faq.likely_other") if others else t("faq.likely_person")
    turn.say_text(text, key="faq.likely_no", options=tuple(options))


def answer_suggestion(turn: Turn, choice: str) -> None:
    state, ctx = turn.state, turn.ctx
    if choice in ("faq.yes", "faq.no"):
        _likely_reply(turn, choice)
        return
    index = int(choice.split(".")[1]) - 1 if choice.split(".")[1].isdigit() else -1
    entry_id = state.faq_suggestions[index] if 0 <= index < len(state.faq_suggestions) else None
    finder = getattr(ctx.faq, "entry", None)
    entry = finder(entry_id) if entry_id and callable(finder) else None
    if entry is None:
        turn.say("error.unknown_option")
        return
    t = turn.t
    source = t(
        "faq.source", guide=entry.guide_title.get(state.lang, ""), section=entry.section.get(state.lang, "")
    )
    options = _action_option(entry, t)
    options.append(Option("menu.main", t("option.menu")))
    turn.say_text(f"{entry.answer[state.lang]}\n\n{source}", key=f"faq:{entry.id}", options=tuple(options))


def is_question(turn: Turn, text: str) -> bool:
    if turn.ctx.faq is None:
        return False
    from flows.faq import looks_like_question

    return looks_like_question(text)


def faq_confident(turn: Turn, text: str) -> bool:
    return turn.ctx.faq is not None and getattr(turn.ctx.faq(text), "status", "none") == "confident"
