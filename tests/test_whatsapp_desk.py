"""The staff desk serves WhatsApp beneficiaries: their card reaches the Telegram group, and a staff
reply (text or file) reaches them on WhatsApp through the channel's sender."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.app import App
from tests.fakes import FakeBotApi
from tests.test_staff_desk import (  # noqa: F401 - pytest fixtures
    PDF,
    STAFF,
    RunningBot,
    api,
    eventually,
    staff_says,
    start_bot,
)
from tests.whatsapp_kit import TO, texts, wa_kit


async def test_a_staff_reply_in_the_group_is_relayed_to_whatsapp(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    async with wa_kit(app) as kit:
        bot = await start_bot(senders={"whatsapp": kit.channel.desk_sender})
        await kit.say("السلام عليكم")
        await kit.press("menu.human")
        await bot.desk.idle()
        card = next(m for m in api.sent_messages(STAFF) if "طلب التحدث مع موظف" in (m.get("text") or ""))
        assert "966501234567" not in card["text"]  # masked in the group

        before = len(kit.graph.sent)
        await staff_says(api, "أهلًا، معك سارة من الجمعية", reply_to_message_id=card["message_id"])
        await eventually(lambda: len(kit.graph.sent) > before)
        (reply,) = kit.graph.bodies()[before:]
        assert reply["to"] == TO and "معك سارة من الجمعية" in texts([reply])

        # Held by a person: the bot stays quiet while the beneficiary writes.
        assert await kit.say("شكرًا") == []


async def test_a_staff_file_is_uploaded_and_sent_as_a_whatsapp_document(
    app: App, api: FakeBotApi, start_bot: Callable[..., Awaitable[RunningBot]]
) -> None:
    async with wa_kit(app) as kit:
        bot = await start_bot(senders={"whatsapp": kit.channel.desk_sender})
        await kit.say("السلام عليكم")
        await kit.press("menu.human")
        await bot.desk.idle()
        card = next(m for m in api.sent_messages(STAFF) if "طلب التحدث مع موظف" in (m.get("text") or ""))
        before = len(kit.graph.sent)
        update = api.group_message(STAFF, 9001, "-", reply_to_message_id=card["message_id"])
        stored = api.add_file("BQACAgQAAxkBAAIdecision", PDF, "application/pdf", name="decision.pdf")
        message = update["message"]
        del message["text"]
        message["document"] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": "decision.pdf",
            "mime_type": "application/pdf",
            "file_size": len(PDF),
        }
        api.push_update(update)
        await eventually(lambda: len(kit.graph.sent) > before)
        (sent,) = kit.graph.bodies()[before:]
        assert sent["type"] == "document" and sent["to"] == TO
        assert sent["document"]["filename"] == "decision.pdf"
        assert kit.graph.uploaded(sent["document"]["id"]).data == PDF
