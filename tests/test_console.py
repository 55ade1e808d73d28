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


async def test_a_terminal_shows_only_its_own_notices_and_a_number_presses_the_notice_button(app):
    from sqlalchemy import select

    from bot.staff import console_notices
    from flows.decisions import DecisionService
    from flows.lifecycle import Action
    from storage.outbox import OutboxMessage
    from tests.conftest import ARABIC_ANSWERS, Chat, fill_form

    for user in ("umm-ali", "umm-sara"):
        chat = Chat(app, user=user)
        await fill_form(chat, ARABIC_ANSWERS)
        await chat.press("summary.send")
        await chat.press("declaration.confirm")
    decisions = DecisionService(app.db, app.clock, app.form)
    for reference in ("2026-00001", "2026-00002"):
        assert (await decisions.decide(reference, Action.APPROVE, "staff:1")).ok

    written: list[str] = []
    console = ConsoleChannel(app.service.handle, "umm-ali", app.settings.files_dir, write=written.append)
    console.notices = console_notices(app, console)
    await console.show_notices()
    await console.show_notices()  # nothing twice

    assert len(written) == 1 and "بشرى سارة" in written[0] and "2026-00001" in written[0]
    async with app.db.transaction() as session:
        states = (
            (await session.execute(select(OutboxMessage.state).order_by(OutboxMessage.id))).scalars().all()
        )
    assert states == ["sent", "pending"]  # umm-sara's notice waits for her own terminal

    replies = await console.send("1")  # the notice's first button: «حالة طلبي»
    assert "2026-00001" in "\n".join(r.text for r in replies)
