"""Volunteer and feedback cards through the durable staff queue, and edited after each staff step: real
python-telegram-bot against the fake Bot API, the submissions made through the service as a Telegram user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from handlers.desk_forms import FormsDesk
from storage import staff_queue
from storage.staff_queue import PostState, StaffPost
from tests.conftest import Chat
from tests.fakes.bot_api import FakeBotApi
from tests.test_staff_desk import (  # noqa: F401  (fixtures)
    OFFICER,
    STAFF,
    RunningBot,
    api,
    eventually,
    start_bot,
    texts,
)
from tests.test_staff_queue import one_post_an_hour

MANAGERS = -1009876543210
MANAGER = 9300


async def volunteer(app: App, user: str) -> None:
    chat = Chat(app, user=user, channel="telegram")
    await chat.send("/start")
    await chat.press("menu.volunteer")
    await chat.press("consent.yes")
    for answer in ("فاطمة محمد العتيبي", "1000000008", "1995-05-20"):
        await chat.send(answer)
    await chat.press("c.female")
    for answer in ("الرياض", "0501234567", "fatima@example.com"):
        await chat.send(answer)
    for option in ("c.bachelor", "c.health", "m.done", "c.weekends", "m.done", "c.no", "summary.send"):
        await chat.press(option)
    await chat.press("declaration.confirm")
    assert any(key == "volunteer.thanks" for key in chat.keys), chat.keys


async def complaint(app: App, user: str, category: str = "staff_conduct") -> Chat:
    chat = Chat(app, user=user, channel="telegram")
    await chat.send("/start")
    await chat.press("menu.feedback")
    await chat.press("c.complaint")
    await chat.press(f"c.{category}")
    await chat.send("لم يتعامل الموظف باحترام عند مراجعتي للمقر")
    await chat.press("form.skip")
    await chat.press("c.no")
    await chat.press("summary.send")
    return chat


def card_of(api: FakeBotApi, chat: int, reference: str) -> dict[str, Any]:
    return next(
        m
        for m in api.sent_messages(chat)
        if (m.get("text") or "").startswith("📝") and reference in m["text"]
    )


def labels(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def press(api: FakeBotApi, user: int, chat: int, message: dict[str, Any], label: str) -> dict:
    rows = message["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if label in b["text"])
    return api.push_update(api.callback_press(user, data, message["message_id"], chat_id=chat))


async def test_a_volunteer_card_is_edited_with_the_status_who_and_when_after_each_step(app, api, start_bot):
    bot = await start_bot()
    FormsDesk(bot.desk, app.forms).install()
    await volunteer(app, "vol-1")
    await bot.desk.idle()
    card = card_of(api, STAFF, "V-2026-00001")
    assert "الحالة: 🆕 جديد" in card["text"] and labels(card) == ["✅ تم التواصل", "🎉 قبول", "⏸ ليس الآن"]
    posts = len(api.sent_messages(STAFF))

    update = press(api, OFFICER, STAFF, card, "تم التواصل")
    await eventually(lambda: update not in api.pending_updates)
    await eventually(lambda: "✅ تم التواصل — سارة" in card_of(api, STAFF, "V-2026-00001")["text"])
    edited = card_of(api, STAFF, "V-2026-00001")
    assert edited["message_id"] == card["message_id"] and "edit_date" in edited
    assert "الحالة: ✅ تم التواصل — سارة، " in edited["text"] and "2026" in edited["text"].splitlines()[-1]
    assert "فاطمة م. ع." in edited["text"] and "العتيبي" not in edited["text"]  # still masked
    assert len(api.sent_messages(STAFF)) == posts  # the card changed; no new post

    update = press(api, OFFICER, STAFF, edited, "ليس الآن")
    await eventually(lambda: any("اكتب سبب" in t for t in texts(api, STAFF)))
    question = next(m for m in api.sent_messages(STAFF) if "اكتب سبب" in (m.get("text") or ""))
    api.push_update(
        api.group_message(STAFF, OFFICER, "اكتمل الفريق", reply_to_message_id=question["message_id"])
    )
    await eventually(lambda: "⏸ ليس الآن — سارة" in card_of(api, STAFF, "V-2026-00001")["text"])


async def test_a_feedback_card_shows_reply_close_and_the_persons_answer(app, api, start_bot):
    bot = await start_bot()
    FormsDesk(bot.desk, app.forms).install()
    person = await complaint(app, "fb-1", category="delay")
    await bot.desk.idle()
    card = card_of(api, STAFF, "F-2026-00001")
    assert labels(card) == ["↩️ رد", "🔒 إغلاق"]

    api.push_update(
        api.group_message(STAFF, OFFICER, "نعتذر عن التأخير", reply_to_message_id=card["message_id"])
    )
    await eventually(lambda: "↩️ تم الرد — سارة" in card_of(api, STAFF, "F-2026-00001")["text"])
    api.push_update(api.group_message(STAFF, OFFICER, "/fbclose F-2026-00001 صدر القرار"))
    await eventually(lambda: "🔒 مغلق — سارة" in card_of(api, STAFF, "F-2026-00001")["text"])
    assert labels(card_of(api, STAFF, "F-2026-00001")) == []  # closed: nothing to press

    await person.send(option="fbsat.no.F-2026-00001")  # not satisfied: re-opened for a manager
    await bot.desk.idle()
    card = card_of(api, STAFF, "F-2026-00001")
    assert "⚠️ أُعيد فتحه" in card["text"] and labels(card) == ["↩️ رد", "🔒 إغلاق"]
    assert any("غير راضٍ" in t and "F-2026-00001" in t and not t.startswith("📝") for t in texts(api, STAFF))


async def _running(app: App, api: FakeBotApi, tmp_path: Path, **options: Any) -> tuple[RunningBot, FormsDesk]:
    """As `python -m bot run` does it: the forms' desk installed before the desk starts."""
    bot = RunningBot(app, api, tmp_path, **options)
    forms = FormsDesk(bot.desk, app.forms, complaints_chat_id=MANAGERS)
    forms.install()
    return await bot.start(), forms


async def waiting(app: App) -> dict[int, int]:
    async with app.db.transaction() as session:
        rows = (
            await session.execute(select(StaffPost.chat_id).where(StaffPost.state == PostState.PENDING))
        ).all()
    return {chat: sum(1 for (c,) in rows if c == chat) for (chat,) in rows}


def form_cards(api: FakeBotApi, chat: int) -> list[str]:
    return [t for t in texts(api, chat) if t.startswith("📝")]


@pytest.mark.asyncio
async def test_cards_waiting_for_a_full_window_survive_a_stop_and_the_next_start_posts_them(
    any_app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]], tmp_path: Path
) -> None:
    api.add_chat(MANAGERS, title="المديرون")
    api.set_member(MANAGERS, MANAGER, "administrator")
    first, forms = await _running(any_app, api, tmp_path, rate_limiter=one_post_an_hour())
    try:
        await volunteer(any_app, "vol-a")
        await complaint(any_app, "fb-a")
        await eventually(lambda: len(form_cards(api, STAFF)) == 1 and len(form_cards(api, MANAGERS)) == 1)
        await volunteer(any_app, "vol-b")  # each group's window is full: both cards wait
        await complaint(any_app, "fb-b")
        assert forms.lane is not None
        await eventually(lambda: first.desk.waiting_for_window and forms.lane.waiting_for_window)
    finally:
        await first.stop()  # SIGTERM: the waiting rows stay in the database

    assert await waiting(any_app) == {STAFF: 1, MANAGERS: 1}  # each row carries its chat
    second, _ = await _running(any_app, api, tmp_path)  # the next start (a fresh limiter: a new process)
    try:
        await second.desk.idle()
        assert [("V-2026-00002" in t) for t in form_cards(api, STAFF)] == [False, True]
        assert [("F-2026-00002" in t) for t in form_cards(api, MANAGERS)] == [False, True]
        assert not any("F-2026" in t for t in texts(api, STAFF))  # complaints about conduct: managers only
        assert await waiting(any_app) == {}
        counts = await staff_queue.count_by_state(any_app.db, MANAGERS)
        assert counts == {PostState.SENT.value: 2}
    finally:
        await second.stop()
