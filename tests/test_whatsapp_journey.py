"""Whole journeys on WhatsApp against the fake Graph API: a support request in Arabic with an image and a
PDF through the media flow, decisions inside and outside the 24-hour window (templates, 131047 on the
send and in a later status), statuses on the outbox row, unreachable people, rate errors, the poll."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from flows.decisions import DecisionService
from flows.lifecycle import Action
from flows.reports import compute_report, format_text
from storage.models import Attachment, Contact, SupportRequest
from storage.outbox import OutboxMessage
from storage.survey import Survey
from tests.conftest import ARABIC_ANSWERS
from tests.fakes.graph_api import status_payload
from tests.sample_files import JPEG, PDF  # real files: the bytes decide the type
from tests.whatsapp_kit import TO, WA_ID, WaKit, choice_ids, media_payload, payload, texts, wa_kit


async def apply_in_arabic(kit: WaKit) -> list[dict[str, Any]]:
    """From «السلام عليكم» to the reference number, with an ID photo and a PDF sent as WhatsApp media."""
    await kit.say("السلام عليكم")
    bodies = await kit.press("menu.apply")
    if "consent.yes" in choice_ids(bodies[-1]):
        await kit.press("consent.yes")
    for name in (
        "full_name",
        "national_id",
        "mobile",
        "city",
        "family_members",
        "children",
        "monthly_income",
    ):
        await kit.say(ARABIC_ANSWERS[name])
    await kit.press("c.food")
    await kit.say("نحتاج سلة غذائية شهرية للأسرة")
    photo = kit.graph.add_media(JPEG, "image/jpeg")
    await kit.post(media_payload("image", photo, mime="image/jpeg"))
    document = kit.graph.add_media(PDF, "application/pdf")
    summary = await kit.post(
        media_payload("document", document, mime="application/pdf", filename="salary.pdf")
    )
    assert "summary.send" in choice_ids(summary[-1]), texts(summary)
    declaration = await kit.press("summary.send")
    assert "declaration.confirm" in choice_ids(declaration[-1])
    return await kit.press("declaration.confirm")


async def submitted(kit: WaKit) -> SupportRequest:
    async with kit.app.db.transaction() as session:
        return (await session.execute(select(SupportRequest))).scalar_one()


async def outbox_rows(kit: WaKit) -> list[OutboxMessage]:
    async with kit.app.db.transaction() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_the_whole_support_request_in_arabic_with_an_image_and_a_pdf(app):
    async with wa_kit(app) as kit:
        done = await apply_in_arabic(kit)
        request = await submitted(kit)
        async with app.db.transaction() as session:
            files = (await session.execute(select(Attachment).order_by(Attachment.id))).scalars().all()
        assert "2026-00001" in texts(done) and "أسبوعين" in texts(done)
        assert request.channel == "whatsapp" and request.data["mobile"] == "+966501234567"
        assert [f.mime for f in files] == ["image/jpeg", "application/pdf"]
        assert all(f.ref.startswith("file:") and f.size in (len(JPEG), len(PDF)) for f in files)
        assert kit.graph.refused == {}  # every message the journey rendered was within WhatsApp's limits
        assert all(body["to"] == TO for body in kit.graph.bodies())


async def test_approval_inside_the_window_is_a_normal_message(app):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        before = len(kit.graph.sent)
        assert await kit.worker().drain() == 1
        (notice,) = kit.graph.bodies()[before:]
    assert notice["type"] == "interactive" and "وافقت لجنة البحث" in notice["interactive"]["body"]["text"]
    assert choice_ids(notice) == ["menu.status", "menu.main"]


async def test_approval_outside_the_window_goes_as_the_template(app, clock):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        clock.advance(hours=25)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        before = len(kit.graph.sent)
        await kit.worker().drain()
        (notice,) = kit.graph.bodies()[before:]
    assert notice == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "template": {
            "name": "mustafid_request_approved",
            "language": {"code": "ar"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "2026-00001"}]}],
        },
    }


async def test_a_131047_on_the_send_falls_back_to_the_template_at_once(app):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide(
            "2026-00001", Action.REJECT, "staff:1", "الدخل أعلى من\nحد الاستحقاق"
        )
        kit.graph.fail_next(131047)
        before = len(kit.graph.sent)
        await kit.worker().drain()
        (notice,) = kit.graph.bodies()[before:]
        (row,) = await outbox_rows(kit)
    assert kit.graph.refused[131047] == 1
    assert notice["template"]["name"] == "mustafid_request_rejected"
    parameters = notice["template"]["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["2026-00001", "الدخل أعلى من حد الاستحقاق"]
    assert row.state == "sent"


async def test_a_131047_in_a_later_failed_status_sends_the_template(any_app):
    app = any_app
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        kit.graph.fail_next(131047, later=True)  # accepted, then reported failed, as Meta usually does
        before = len(kit.graph.sent)
        await kit.worker().drain()
        (free_form,) = kit.graph.sent[before:]
        (wamid, code) = kit.graph.later_failures[0]
        failed = payload("status_failed_131047.json")  # Meta's shape, as it arrives
        failed["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
        assert code == 131047
        await kit.status(failed)
        (row,) = await outbox_rows(kit)
        assert row.state == "pending" and row.last_error == "131047"
        await kit.worker().drain()
        template = kit.graph.bodies()[-1]
        (row,) = await outbox_rows(kit)
    assert free_form.body["type"] == "interactive"
    assert template["type"] == "template" and template["template"]["name"] == "mustafid_request_approved"
    assert row.state == "sent"


async def test_delivered_and_read_statuses_update_the_outbox_row(any_app, clock):
    app = any_app
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        await kit.worker().drain()
        wamid = kit.graph.sent[-1].wamid
        at = int(clock.now().timestamp())
        await kit.status(status_payload(wamid, "sent", TO, timestamp=at))
        await kit.status(status_payload(wamid, "delivered", TO, timestamp=at + 5))
        await kit.status(status_payload(wamid, "delivered", TO, timestamp=at + 5))  # a retried webhook
        await kit.status(status_payload(wamid, "read", TO, timestamp=at + 60))
        (row,) = await outbox_rows(kit)
    assert row.delivered_at is not None and int(row.delivered_at.timestamp()) == at + 5
    assert row.read_at is not None and int(row.read_at.timestamp()) == at + 60
    report = await compute_report(app.db, clock.now(), None, None)
    assert report.notices_by_channel == {"whatsapp": (1, 1, 1)}  # sent, delivered, read
    assert "إشعارات واتساب: أُرسل 1، وصل منها 100٪، وقُرئ 100٪" in format_text(report, "ar")


async def test_131026_marks_the_person_unreachable_and_alerts_staff(any_app):
    app = any_app
    alerts: list[tuple[str, dict]] = []

    async def alert(event: str, detail: dict) -> None:
        alerts.append((event, detail))

    async with wa_kit(app) as kit:
        kit.channel.alert = alert
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        kit.graph.fail_next(131026, later=True)
        await kit.worker().drain()
        wamid, code = kit.graph.later_failures[0]
        await kit.status(status_payload(wamid, "failed", TO, code=code))
        async with app.db.transaction() as session:
            contact = (await session.execute(select(Contact))).scalar_one()
        (row,) = await outbox_rows(kit)
    assert contact.unreachable and row.state == "dead" and row.last_error == "131026"
    assert [event for event, _ in alerts] == ["contact.blocked"]
    assert alerts[0][1]["outbox_id"] == row.id and "966" not in str(alerts[0][1])


async def test_131026_on_the_send_marks_the_person_unreachable(app):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        kit.graph.fail_next(131026)
        await kit.worker().drain()
        async with app.db.transaction() as session:
            contact = (await session.execute(select(Contact))).scalar_one()
    assert contact.unreachable


async def test_throughput_and_pair_rate_errors_are_retried_without_counting_as_failures(app, clock):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        kit.graph.fail_next(130429, http_status=429)
        kit.graph.fail_next(131056)
        worker = kit.worker()
        await worker.drain()
        (row,) = await outbox_rows(kit)
        assert row.state == "pending" and row.attempts == 0 and row.last_error == "429"
        clock.advance(seconds=10)
        await worker.drain()
        (row,) = await outbox_rows(kit)
        assert row.state == "pending" and row.attempts == 0
        clock.advance(seconds=70)
        await worker.drain()
        (row,) = await outbox_rows(kit)
    assert kit.graph.refused == {130429: 1, 131056: 1}
    assert row.state == "sent" and row.attempts == 1
    assert "وافقت لجنة البحث" in texts([kit.graph.bodies()[-1]])


async def test_a_server_error_is_retried_with_backoff(app, clock):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        await DecisionService(app.db, app.clock, app.form).decide("2026-00001", Action.APPROVE, "staff:1")
        kit.graph.fail_next(None, http_status=503)
        worker = kit.worker()
        await worker.drain()
        (row,) = await outbox_rows(kit)
        assert row.state == "pending" and row.attempts == 1 and row.last_error == "503"
        clock.advance(minutes=10)
        await worker.drain()
        (row,) = await outbox_rows(kit)
    assert row.state == "sent"


async def test_delivered_then_poll_then_rating_on_whatsapp(app, clock):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        decisions = DecisionService(
            app.db, app.clock, app.form, survey_delay=app.service.settings.survey_delay
        )
        for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
            await decisions.decide("2026-00001", action, "staff:1")
        worker = kit.worker()
        await worker.drain()
        clock.advance(hours=2)  # the poll is due an hour after delivery; still inside the window
        await worker.drain()
        poll = kit.graph.bodies()[-1]
        assert poll["interactive"]["type"] == "list" and len(choice_ids(poll)) == 5
        five = next(i for i in choice_ids(poll) if i.endswith(".5"))
        bodies = await kit.post(_list_reply(five))
        async with app.db.transaction() as session:
            survey = (await session.execute(select(Survey))).scalar_one()
    assert bodies and survey.rating == 5


async def test_the_poll_outside_the_window_is_a_template_whose_button_opens_the_poll(app, clock):
    async with wa_kit(app) as kit:
        await apply_in_arabic(kit)
        decisions = DecisionService(
            app.db, app.clock, app.form, survey_delay=app.service.settings.survey_delay
        )
        for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
            await decisions.decide("2026-00001", action, "staff:1")
        worker = kit.worker()
        await worker.drain()
        clock.advance(hours=25)
        await worker.drain()
        names = [b["template"]["name"] for b in kit.graph.bodies() if b["type"] == "template"]
        assert names == ["mustafid_service_poll", "mustafid_service_poll_reminder"]
        invitation = kit.graph.bodies()[-2]
        button = invitation["template"]["components"][1]
        assert button["sub_type"] == "quick_reply"
        pressed = payload("template_button.json")
        message = pressed["entry"][0]["changes"][0]["value"]["messages"][0]
        message["button"]["payload"] = button["parameters"][0]["payload"]
        bodies = await kit.post(pressed)
        assert bodies[-1]["interactive"]["type"] == "list" and len(choice_ids(bodies[-1])) == 5
        four = next(i for i in choice_ids(bodies[-1]) if i.endswith(".4"))
        thanks = await kit.post(_list_reply(four))
        async with app.db.transaction() as session:
            survey = (await session.execute(select(Survey))).scalar_one()
    assert thanks and survey.rating == 4


def _list_reply(option_id: str) -> dict[str, Any]:
    body = payload("list_reply.json")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = f"wamid.rate.{option_id}"
    message["interactive"]["list_reply"] = {"id": option_id, "title": "ممتاز"}
    return body


async def test_a_turn_of_several_texts_is_merged_into_fewer_messages(app):
    async with wa_kit(app) as kit:
        bodies = await kit.say("السلام عليكم")
    # The greeting and the menu: one list message whose body holds the greeting too.
    assert len(bodies) == 1 and bodies[0]["interactive"]["type"] == "list"
    assert WA_ID in bodies[0]["to"]
