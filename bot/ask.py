"""`python -m bot ask`: the answer the assistant gives to one question, or to a file of questions (one a line)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from bot.progress import each, terminal_progress
from locales import translator

ANSWERED = ("confident", "likely")


def answer_language(result: Any, chosen: str | None) -> str:
    """`--lang` decides; without it, the question's own language."""
    return chosen or getattr(result, "lang", None) or "ar"


def payload(result: Any, chosen_lang: str | None = None) -> dict[str, Any]:
    """One JSON-ready object: `matched` is true only for "confident" and "likely"; `status` says which."""
    lang = answer_language(result, chosen_lang)
    status = getattr(result, "status", "none")
    entry = result.entry if status in ANSWERED else None
    return {
        "status": status,
        "matched": entry is not None,
        "answer": entry.answer[lang] if entry else None,
        "entry": entry.id if entry else None,
        "source": f"{entry.guide}/{entry.section.get('en', '')}" if entry else None,
        "score": round(float(result.score), 4),
        "suggestions": [s.id for s in result.suggestions],
        # The topic the guides do not answer that the question is closest to (content/guides/not_covered.yaml).
        "not_covered": topic.id if (topic := getattr(result, "topic", None)) is not None else None,
    }


def print_text(result: Any, lang: str, out: IO[str]) -> None:
    t = translator(lang)
    status = result.status
    if status in ANSWERED:
        entry = result.entry
        if status == "likely":
            print(t("faq.likely", question=entry.questions[lang][0]), file=out)
        print(entry.answer[lang], file=out)
        print(
            t("faq.source", guide=entry.guide_title.get(lang, ""), section=entry.section.get(lang, "")),
            file=out,
        )
        if status == "likely" and result.suggestions:
            print(t("faq.did_you_mean"), file=out)
            for suggestion in result.suggestions:
                print(f"  - {suggestion.questions[lang][0]}  [{suggestion.id}]", file=out)
    elif result.suggestions:
        print(t("faq.did_you_mean"), file=out)
        for suggestion in result.suggestions:
            print(f"  - {suggestion.questions[lang][0]}  [{suggestion.id}]", file=out)
    else:
        print(t("faq.no_answer"), file=out)


def _lines(source: IO[str]) -> Iterator[str]:
    for line in source:
        yield line.rstrip("\r\n")


def _progress(lines: list[str]) -> Iterable[str]:
    """A progress bar on a terminal (standard error), nothing when redirected or for a few questions."""
    return each(lines, terminal_progress("questions", "q") if len(lines) >= 50 else None, every=10)


def ask_batch(faq: Any, source: IO[str], out: IO[str], as_json: bool, chosen_lang: str | None) -> int:
    """One question a line in, one line (JSON object, or text block) out; blank lines give a "none" line so
    the output keeps the input's line numbers. Returns the number of questions answered."""
    answered = 0
    if hasattr(
        faq, "progress"
    ):  # the index build's embedding step: long only on a cold build of many entries
        faq.progress = terminal_progress("FAQ index", "text")
    for question in _progress(list(_lines(source))):
        if not question.strip():
            result_payload = {
                "status": "none",
                "matched": False,
                "answer": None,
                "entry": None,
                "source": None,
            }
            result_payload |= {"score": 0.0, "suggestions": []}
            line = json.dumps({"question": question, **result_payload}, ensure_ascii=False)
            print(line if as_json else "", file=out)
            continue
        result = faq(question)
        data = payload(result, chosen_lang)
        answered += data["matched"]
        if as_json:
            print(json.dumps({"question": question, **data}, ensure_ascii=False), file=out)
        else:
            print(f"? {question}", file=out)
            print_text(result, answer_language(result, chosen_lang), out)
            print(file=out)
    return answered
