"""«بياناتي» on the channels: on Telegram (the fake Bot API) the copy arrives as documents (sendDocument) and a
correction's card reaches the staff group through the desk's queue; staff press «✅ تم» and the person is told.
The web chat gives download links only its person can open; WhatsApp uploads the files (the fake Graph API)."""

from __future__ import annotations

import json
from typing import Any

from bot.delivery import render_row
from handlers.desk_rights import RightsDesk
from handlers.telegram_sender import TelegramSender, outbox_bot
from storage.outbox import OutboxWorker
from tests.test_staff_desk import (  # noqa: F401  (fixtures)
    OFFICER,
    OUTSIDER,
    STAFF,
    TOKEN,
    USER,
    Beneficiary,
    api,
    audit_rows,
    eventually,
    start_bot,
    texts,
)


def _press(api, user: int, message: dict[str, Any], label: str) -> dict:  # type: ignore[no-untyped-def]
    rows = message["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for row in rows for b in row if label in b["text"])
    return api.push_update(api.callback_press(user, data, message["message_id"], chat_id=STAFF))


async def test_a_copy_is_sent_as_documents_and_a_correction_card_is_answered_from_the_desk(
    app, api, start_bot
):
    bot = await start_bot()
    RightsDesk(bot.desk).install()
    person = Beneficiary(api)
    said = await person.say("/mydata")
    assert any("بياناتي" in text for text in said)
    await person.press("md.copy")
    documents = await api.wait_for_call("sendDocument", count=2)
    assert all(d["chat_id"] == USER for d in documents)
    names = [d["document"].filename for d in documents]
    assert (
        names[0].startswith("mydata-P-2026-00001")
        and names[0].endswith(".json")
        and names[1].endswith(".txt")
    )
    copy = json.loads(documents[0]["document"].content)
    assert copy["contact"]["channel"] == "telegram" and copy["support_requests"] == []
    assert "نسخة من بياناتك" in documents[1]["document"].content.decode()

    await person.say("بياناتي")
    await person.press("md.correct")
    await person.press("mdf.city")
    said = await person.say("الدمام")
    assert any("P-2026-00002" in text for text in said)
    await bot.desk.idle()
    card = next(m for m in api.sent_messages(STAFF) if "P-2026-00002" in (m.get("text") or ""))
    assert "تصحيح" in card["text"] and "المدينة" in card["text"] and "هـ" in card["text"]

    update = _press(api, OUTSIDER, card, "تم")  # not staff: refused, nothing changes
    await eventually(lambda: update not in api.pending_updates)
    assert await audit_rows(app, "rights.done") == []
    update = _press(api, OFFICER, card, "تم")
    await eventually(lambda: any("P-2026-00002" in t and "تم —" in t for t in texts(api, STAFF)))
    assert len(await audit_rows(app, "rights.done")) == 1

    sender = TelegramSender(outbox_bot(TOKEN, api.api_base))
    worker = OutboxWorker(app.db, app.clock, {"telegram": sender}, render_row(app), max_attempts=3)
    await worker.drain()
    assert any("صحّحنا بياناتك" in t and "P-2026-00002" in t for t in texts(api, USER))


async def test_rights_lists_the_open_requests_for_staff(app, api, start_bot):
    bot = await start_bot()
    RightsDesk(bot.desk).install()
    person = Beneficiary(api)
    await person.say("بياناتي")
    await person.press("md.erase")
    await person.press("md.yes")
    update = api.push_update(api.group_message(STAFF, OFFICER, "/rights"))
    await eventually(lambda: update not in api.pending_updates)
    await eventually(lambda: any("P-2026-00001" in t and "حذف" in t for t in texts(api, STAFF)))


async def test_staff_help_lists_the_rights_commands_once_the_rights_desk_is_installed(app, api, start_bot):
    bot = await start_bot()
    update = api.push_update(api.group_message(STAFF, OFFICER, "/help"))
    await eventually(
        lambda: update not in api.pending_updates and any("/pending" in t for t in texts(api, STAFF))
    )
    assert not any("/rightsrefuse" in t for t in texts(api, STAFF))  # not offered before it exists
    RightsDesk(bot.desk).install()
    update = api.push_update(api.group_message(STAFF, OFFICER, "/help"))
    await eventually(lambda: any("/rightsrefuse" in t and "/pending" in t for t in texts(api, STAFF)))


async def test_the_web_chat_gives_the_copy_as_download_links_only_to_its_person(app):
    import uuid

    from tests.test_web_http import browser
    from tests.web_server import running_web

    async with running_web(app, allowed_origins=["https://www.charity.example"]) as web:
        async with browser(web) as owner, browser(web) as stranger:
            await owner.post("/web/message", json={"start": True})
            await owner.post("/web/message", json={"mid": uuid.uuid4().hex, "text": "بياناتي"})
            said = await owner.post("/web/message", json={"mid": uuid.uuid4().hex, "option": "md.copy"})
            files = [m for m in said.json()["messages"] if m.get("file")]
            assert [f["file"]["name"].rsplit(".", 1)[1] for f in files] == ["json", "txt"]
            assert all("ref" not in f["file"] for f in files)  # the path stays on the server
            own = await owner.get(f"/web/file/{files[0]['seq']}")
            other = await stranger.get(f"/web/file/{files[0]['seq']}")
    assert own.status_code == 200 and json.loads(own.content)["contact"]["channel"] == "web"
    assert other.status_code == 404


async def test_whatsapp_sends_the_copy_as_uploaded_documents(app):
    from tests.whatsapp_kit import texts as wa_texts
    from tests.whatsapp_kit import wa_kit

    async with wa_kit(app) as kit:
        await kit.say("السلام عليكم")
        bodies = await kit.say("بياناتي")
        assert "بياناتي" in wa_texts(bodies)
        bodies = await kit.press("md.copy")
        documents = [b for b in bodies if b.get("type") == "document"]
        assert [d["document"]["filename"].rsplit(".", 1)[1] for d in documents] == ["json", "txt"]
        uploaded = kit.graph.uploaded(documents[0]["document"]["id"])
    assert json.loads(uploaded.data)["contact"]["channel"] == "whatsapp"


async def test_staff_refuse_a_deletion_by_replying_with_the_reason(app, api, start_bot):
    from storage.outbox import OutboxMessage
    from storage.rights import RightsRequest
    from tests.test_my_data import _rows

    bot = await start_bot()
    RightsDesk(bot.desk).install()
    person = Beneficiary(api)
    await person.say("بياناتي")
    await person.press("md.erase")
    await person.press("md.yes")
    await bot.desk.idle()
    card = next(m for m in api.sent_messages(STAFF) if "P-2026-00001" in (m.get("text") or ""))
    assert "تأكيد الحذف" in json.dumps(card["reply_markup"], ensure_ascii=False)
    _press(api, OFFICER, card, "رفض")
    await eventually(lambda: any("اكتب سبب رفض" in t for t in texts(api, STAFF)))
    question = next(m for m in api.sent_messages(STAFF) if "اكتب سبب رفض" in (m.get("text") or ""))
    update = api.push_update(
        api.group_message(STAFF, OFFICER, "لديك طلب قيد الدراسة", reply_to_message_id=question["message_id"])
    )
    await eventually(lambda: update not in api.pending_updates)
    await eventually(lambda: any("P-2026-00001" in t and "مرفوض" in t for t in texts(api, STAFF)))
    (rights,) = await _rows(app, RightsRequest)
    assert rights.status == "refused" and rights.answer == "لديك طلب قيد الدراسة"
    (notice,) = await _rows(app, OutboxMessage, OutboxMessage.kind == "rights")
    assert notice.payload["reason"] == "لديك طلب قيد الدراسة"
