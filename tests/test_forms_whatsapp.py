"""The volunteer and feedback journeys on WhatsApp, against the fake Graph API: lists and buttons where the
labels fit, a numbered text list where they do not (the interests), the same answers everywhere."""

from __future__ import annotations

from sqlalchemy import select

from storage.forms import FormSubmission
from tests.whatsapp_kit import WaKit, choice_ids, texts, wa_kit


async def test_feedback_and_volunteering_on_whatsapp(app) -> None:  # type: ignore[no-untyped-def]
    async with wa_kit(app) as kit:
        await _journeys(kit)


async def _journeys(kit: WaKit) -> None:
    await kit.say("السلام عليكم")
    bodies = await kit.press("menu.feedback")
    assert "c.complaint" in choice_ids(bodies[-1])  # three reply buttons
    await kit.press("c.complaint")
    await kit.press("c.delay")
    await kit.say("تأخر الرد على طلبي أكثر من شهر")
    await kit.press("form.skip")
    bodies = await kit.press("c.no")
    assert "summary.send" in choice_ids(bodies[-1])
    bodies = await kit.press("summary.send")
    assert "F-2026-00001" in texts(bodies), texts(bodies)

    await kit.press("menu.volunteer")
    await kit.press("consent.yes")
    for answer in ("فاطمة محمد العتيبي", "١٠٠٠٠٠٠٠٠٨", "١٥/٠٣/١٤٢٠"):
        await kit.say(answer)
    await kit.press("c.female")
    for answer in ("الرياض", "٠٥٠١٢٣٤٥٦٧"):
        await kit.say(answer)
    await kit.press("form.skip")
    await kit.press("c.bachelor")
    bodies = await kit.say("١")  # the interests come as a numbered list: their labels are too long for a row
    await kit.say("٤")
    await kit.press("m.done")
    await kit.press("c.weekends")
    await kit.press("m.done")
    await kit.press("c.no")
    await kit.press("summary.send")
    bodies = await kit.press("declaration.confirm")
    assert "V-2026-00001" in texts(bodies), texts(bodies)
    async with kit.app.db.transaction() as session:
        volunteer = (
            await session.execute(select(FormSubmission).where(FormSubmission.form == "volunteer"))
        ).scalar_one()
    assert volunteer.data["interests"] == ["children", "events"] and volunteer.channel == "whatsapp"
