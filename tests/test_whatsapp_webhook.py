"""The WhatsApp webhook over real HTTP: Meta's handshake, signatures, size, durable recording, every
inbound kind (real-shaped payloads from tests/data/whatsapp/) and the exact requests sent back."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from storage.models import Contact, ProcessedMessage
from storage.whatsapp import WaIdentity, WaInbox
from tests.sample_files import JPEG  # real files: the bytes decide the type
from tests.whatsapp_kit import (
    BSUID,
    TO,
    VERIFY_TOKEN,
    WA_ID,
    choice_ids,
    media_payload,
    message_of,
    payload,
    text_payload,
    texts,
    wa_kit,
)


async def _count(app, table) -> int:  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def test_handshake_returns_the_challenge_for_the_right_token_only(app):
    async with wa_kit(app) as kit:
        right = await kit.webhook.handshake(
            **{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
        )
        wrong = await kit.webhook.handshake(
            **{"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"}
        )
        no_mode = await kit.webhook.handshake(**{"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"})
    assert right.status_code == 200 and right.text == "1158201444"
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    assert no_mode.status_code == 403


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
async def test_unsigned_or_wrongly_signed_posts_are_refused_and_nothing_is_acted_on(app, signature):
    async with wa_kit(app) as kit:
        response = await kit.webhook.post(payload("text.json"), signature=signature)
        await kit.channel.drain()
        assert response.status_code == 401
        assert kit.graph.sent == []
    assert await _count(app, WaInbox) == 0 and await _count(app, Contact) == 0


async def test_a_body_signed_with_another_secret_is_refused(app):
    async with wa_kit(app) as kit:
        body = json.dumps(payload("text.json")).encode()
        kit.webhook.app_secret = "someone-else"
        response = await kit.webhook.post(body)
    assert response.status_code == 401
    assert await _count(app, WaInbox) == 0


async def test_oversized_posts_get_413_without_being_recorded(app):
    async with wa_kit(app) as kit:
        huge = b'{"object":"whatsapp_business_account","pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
        response = await kit.webhook.post(huge)
    assert response.status_code == 413
    assert await _count(app, WaInbox) == 0


async def test_a_valid_post_is_recorded_before_the_200_and_answered_later(app):
    async with wa_kit(app) as kit:
        response = await kit.webhook.post(payload("text.json"))
        assert response.status_code == 200
        assert await _count(app, WaInbox) == 1  # durable before the answer; nothing sent yet
        assert kit.graph.sent == []
        await kit.channel.drain()
        bodies = kit.graph.bodies(TO)
    assert bodies and "مستفيد" in texts(bodies) or "مرحب" in texts(bodies)


async def test_text_greets_with_the_menu_as_a_list_in_arabic(app):
    async with wa_kit(app) as kit:
        bodies = await kit.post(payload("text.json"))
    menu = bodies[-1]
    assert menu["type"] == "interactive" and menu["interactive"]["type"] == "list"
    assert "menu.apply" in choice_ids(menu) and "menu.status" in choice_ids(menu)
    assert menu["interactive"]["action"]["button"] == "الخيارات"
    assert all(body["to"] == TO and body["messaging_product"] == "whatsapp" for body in kit.graph.bodies())
    requests = [r for r in kit.graph.requests if r[1].endswith("/messages")]
    assert all(headers["authorization"] == "Bearer EAAG-test-token" for _, _, headers in requests)
    assert all(path == "/v23.0/106540352242922/messages" for _, path, _ in requests)


@pytest.mark.parametrize("name", ["button_reply.json", "list_reply.json"])
async def test_button_and_list_replies_choose_the_option_by_id(app, name):
    async with wa_kit(app) as kit:
        await kit.say("السلام عليكم")
        body = payload(name)
        bodies = await kit.post(body)
    # menu.status for a person without requests: the status answer, not the menu again
    assert "طلب" in texts(bodies)
    assert message_of(body)["interactive"]["type"].replace("_reply", "") in ("button", "list")


async def test_a_typed_number_still_chooses_from_the_menu(app):
    async with wa_kit(app) as kit:
        await kit.say("السلام عليكم")
        by_number = await kit.say("٣")
        await kit.say("القائمة")
        by_press = await kit.press("menu.status")
    assert texts(by_number) == texts(by_press)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("location.json", "المواقع"),
        ("contacts.json", "المواقع"),
        ("reaction.json", "هذا النوع"),
        ("sticker.json", "هذا النوع"),
        ("unsupported.json", "هذا النوع"),
    ],
)
async def test_kinds_we_do_not_use_are_answered_politely(app, name, expected):
    async with wa_kit(app) as kit:
        await kit.say("السلام عليكم")
        bodies = await kit.post(payload(name))
    assert len(bodies) == 1 and bodies[0]["type"] == "text"
    assert expected in bodies[0]["text"]["body"]


async def test_duplicate_delivery_is_acted_on_once(app):
    async with wa_kit(app) as kit:
        body = payload("text.json")
        first = await kit.post(body)
        again = await kit.post(body)
        await kit.webhook.post(body)
        await kit.channel.drain()
    assert first and again == []
    assert await _count(app, WaInbox) == 1
    assert await _count(app, ProcessedMessage) == 1


async def test_a_person_keeps_their_contact_when_wa_id_disappears(app):
    async with wa_kit(app) as kit:
        await kit.say("السلام عليكم")
        bodies = await kit.post(payload("text_bsuid_only.json"))
        async with app.db.transaction() as session:
            contacts = (await session.execute(select(Contact))).scalars().all()
            identity = (await session.execute(select(WaIdentity))).scalar_one()
    assert len(contacts) == 1 and contacts[0].channel_user_id == BSUID
    assert identity.user_id == BSUID and identity.wa_id == WA_ID  # kept: still reachable by number
    assert bodies and all(body["to"] == TO for body in bodies)


async def test_a_person_known_by_number_first_is_found_again_by_bsuid(app):
    async with wa_kit(app) as kit:
        old = text_payload("السلام عليكم")
        del old["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"]
        await kit.post(old)
        await kit.say("مرحبا")  # Meta starts sending the BSUID beside the number
        await kit.post(payload("text_bsuid_only.json"))  # then the number disappears
        async with app.db.transaction() as session:
            contacts = (await session.execute(select(Contact))).scalars().all()
            identity = (await session.execute(select(WaIdentity))).scalar_one()
    # The contact is keyed by a pseudonym of the number (the number itself is sealed at rest).
    assert [c.channel_user_id for c in contacts] == [identity.key] and identity.key.startswith("p:")
    assert WA_ID not in identity.key and identity.wa_id == WA_ID
    assert identity.user_id == BSUID


async def test_a_person_without_a_phone_number_is_answered_by_bsuid(app):
    async with wa_kit(app) as kit:
        bodies = await kit.post(payload("text_bsuid_only.json"))
    assert bodies and all(body.get("recipient") == BSUID and "to" not in body for body in bodies)


async def test_an_image_is_downloaded_through_the_media_url_and_checked_by_content(app):
    async with wa_kit(app) as kit:
        media_id = kit.graph.add_media(JPEG, "image/jpeg")
        file = await kit.channel._fetch(  # the channel's own step, on a real-shaped payload
            __import__("handlers.whatsapp_inbound", fromlist=["parse_message"])
            .parse_message(WA_ID, message_of(media_payload("image", media_id, mime="image/jpeg")))
            .inbound.attachments[0]
        )
        paths = [path for _, path, _ in kit.graph.requests]
    assert file.ref.startswith("file:") and file.size == len(JPEG) and file.mime == "image/jpeg"
    assert f"/v23.0/{media_id}" in paths and f"/download/{media_id}" in paths


async def test_a_document_whose_bytes_are_not_a_pdf_is_not_stored(app):
    async with wa_kit(app) as kit:
        media_id = kit.graph.add_media(b"MZ\x90\x00 not a pdf", "application/pdf")
        from handlers.whatsapp_inbound import parse_message

        message = message_of(media_payload("document", media_id, mime="application/pdf", filename="a.pdf"))
        file = await kit.channel._fetch(parse_message(WA_ID, message).inbound.attachments[0])
    assert not file.ref.startswith("file:") and file.mime == "application/octet-stream"


async def test_a_file_over_the_size_limit_is_not_downloaded(app):
    async with wa_kit(app) as kit:
        media_id = kit.graph.add_media(JPEG + b"\x00" * app.settings.max_upload_bytes, "image/jpeg")
        from handlers.whatsapp_inbound import parse_message

        message = message_of(media_payload("image", media_id, mime="image/jpeg"))
        file = await kit.channel._fetch(parse_message(WA_ID, message).inbound.attachments[0])
        downloads = [path for _, path, _ in kit.graph.requests if path.startswith("/download/")]
    assert file.size > app.settings.max_upload_bytes and not file.ref.startswith("file:")
    assert downloads == []


async def test_statuses_of_unknown_messages_are_ignored(app):
    async with wa_kit(app) as kit:
        await kit.status(payload("status_delivered.json"))
    assert await _count(app, WaInbox) == 1
