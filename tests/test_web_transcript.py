"""The web channel's adapter on SQLite and PostgreSQL: what a page shows is the transcript in the database,
numbered per person, so a reload, a reconnection or a notice sent while the page was closed all replay from it."""

from __future__ import annotations

from pathlib import Path

from bot.app import App
from flows.messages import Outbound
from handlers.web import WebChat, new_token, user_id_of
from storage import repo


def web_chat(app: App, tmp_path: Path) -> WebChat:
    return WebChat(
        app.service, files_dir=tmp_path / "files", max_upload_bytes=10 * 1024 * 1024, clock=app.clock
    )


async def test_a_notice_sent_while_the_page_is_closed_is_shown_when_the_person_returns(
    any_app: App, tmp_path: Path
) -> None:
    chat = web_chat(any_app, tmp_path)
    person = user_id_of(new_token())
    greeting = await chat.start(person)
    async with any_app.db.transaction() as session:
        contact = await repo.find_contact(session, "web", person)

    await chat.desk_sender(contact, [any_app.service.staff_reply("سنتواصل معك غدًا", "ar")])
    returned = await chat.history(person, after=greeting[-1]["seq"])

    assert [event["key"] for event in returned] == ["handoff.staff_says"]
    assert "سنتواصل معك غدًا" in returned[0]["text"]
    assert returned[0]["seq"] == greeting[-1]["seq"] + 1


async def test_messages_are_numbered_per_person_and_replayed_in_order(any_app: App, tmp_path: Path) -> None:
    chat = web_chat(any_app, tmp_path)
    first, second = user_id_of(new_token()), user_id_of(new_token())

    await chat.start(first)
    await chat.start(second)
    await chat.receive(first, "m" * 16, text="حالة طلبي")
    await chat.receive(first, "m" * 16, text="حالة طلبي")  # the page sent it again after reconnecting
    mine, theirs = await chat.history(first, 0), await chat.history(second, 0)

    assert [event["seq"] for event in mine] == list(range(1, len(mine) + 1))
    assert [event["text"] for event in mine if event["role"] == "user"] == ["حالة طلبي"]
    assert [event["role"] for event in theirs] == ["bot"] * len(theirs)
    assert await chat.last_seq(first) == len(mine)
    assert await chat.start(first) == []  # the greeting once


async def test_the_outbox_sender_delivers_into_the_transcript(any_app: App, tmp_path: Path) -> None:
    chat = web_chat(any_app, tmp_path)
    person = user_id_of(new_token())
    await chat.start(person)
    async with any_app.db.transaction() as session:
        contact = await repo.find_contact(session, "web", person)

    result = await chat.outbox_sender(contact, [Outbound(text="تمت الموافقة", key="notify.approved")])

    assert type(result).__name__ == "Sent"
    assert (await chat.history(person, 0))[-1]["text"] == "تمت الموافقة"
