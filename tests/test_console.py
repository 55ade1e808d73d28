"""The terminal channel in-process: exit words, /help naming them."""

from __future__ import annotations

import pytest

from handlers.console import ConsoleChannel, is_exit


@pytest.mark.parametrize("line", ["خروج", "اغلاق", "إغلاق", "quit", "exit", "EXIT", " خروج "])
def test_exit_words(line):
    assert is_exit(line)


@pytest.mark.parametrize("line", ["خروج من الطلب؟", "1", "القائمة", "exit plan"])
def test_other_lines_are_not_exits(line):
    assert not is_exit(line)


@pytest.mark.parametrize(("lang", "words"), [("ar", "«خروج»"), ("en", '"exit"')])
async def test_help_in_the_terminal_says_how_to_leave(app, lang, words):
    written: list[str] = []
    console = ConsoleChannel(
        app.service.handle, "helper", app.settings.files_dir, lang=lang, write=written.append
    )
    await console.send("/start")
    await console.send("/help")
    assert words in written[-1] and "Ctrl+D" in written[-1]


async def test_the_conversation_ends_at_an_exit_word_and_reads_no_further(app):
    lines = iter(["اغلاق", "2"])
    written: list[str] = []
    console = ConsoleChannel(
        app.service.handle,
        "leaver",
        app.settings.files_dir,
        read=lambda _prompt: next(lines),
        write=written.append,
    )
    await console.run()
    assert written[-1] == "مع السلامة، ونسعد بخدمتك دائمًا."
    assert next(lines) == "2"
