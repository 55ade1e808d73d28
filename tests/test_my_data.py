"""«بياناتي» / "My data" (issue 15): see, copy, correct, delete, withdraw consent — conversations in Arabic and
English through the real service (the console's path), staff answering through the channel-neutral desk, the
outbox delivering what the person is told, and the digest naming overdue rights requests."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from bot.delivery import render_row
from flows.deadlines import overdue_digest
from flows.decisions import DecisionService
from flows.lifecycle import Action
from flows.rights_desk import RightsDesk, overdue_rights_text
from handlers.console import ConsoleChannel
from storage.files import read_stored
from storage.forms import FormSubmission
from storage.models import Attachment, AuditLog, Contact, SupportRequest
from storage.outbox import OutboxMessage, OutboxWorker
from storage.rights import RightsRequest
from tests.conftest import ARABIC_ANSWERS, ENGLISH_ANSWERS, Chat, pdf, photo
from tests.sample_files import JPEG
from tests.test_conversation_defects import ConsoleInbox, deliver_outbox

DESCRIPTION = "زوجي متوفى ونحتاج سلة غذائية"


async def _apply(app, chat: Chat, answers: dict[str, str], real_file: bool = False) -> str:  # type: ignore[no-untyped-def]
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    for answer in answers.values():
        await chat.send(answer)
    await chat.send(option="c.food")
    await chat.send(DESCRIPTION)
    await chat.send(file=app.service.files.store(JPEG, name="id.jpg") if real_file else photo())
    await chat.send(file=pdf())
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert chat.keys == ["submitted.text"]
    return chat.text


async def _rows(app, model, *where):  # type: ignore[no-untyped-def]
    async with app.db.transaction() as session:
        return list((await session.execute(select(model).where(*where))).scalars())


def _stored_files(app) -> list[Path]:  # type: ignore[no-untyped-def]
    folder = app.settings.files_dir
    return [p for p in folder.iterdir() if p.is_file()] if folder.exists() else []


# ---------------------------------------------------------------- see


async def test_the_summary_in_arabic_is_readable_and_masked(app):
    chat = Chat(app, user="see-ar")
    await _apply(app, chat, ARABIC_ANSWERS)
    await chat.send("بياناتي")  # typed words, like any menu entry
    assert chat.keys == ["mydata.menu"]
    assert [o.id for o in chat.last[-1].options][:5] == [
        "md.see",
        "md.copy",
        "md.correct",
        "md.erase",
        "md.withdraw",
    ]
    await chat.send("1")
    text = chat.text
    assert "2026-00001" in text and "قُدّم" in text
    assert "فاطمة م. ع." in text and "+9665*****567" in text  # the name and the mobile, masked
    assert "الطرفية" in text and "العربية" in text  # the channel and the language, in words
    assert "العتيبي" not in text and "0501234567" not in text and "1000000008" not in text
    assert "هـ" in text  # the consent's date, Gregorian and Hijri
    audit = await _rows(app, AuditLog, AuditLog.action == "rights.seen")
    assert len(audit) == 1


async def test_my_data_is_in_the_main_menu_and_the_command_works_in_english(app):
    chat = Chat(app, user="see-en", lang="en")
    await chat.send("/start")
    assert "menu.mydata" in chat.option_ids
    await chat.send("/mydata")
    assert chat.keys == ["mydata.menu"]
    await chat.press("See my data")
    assert "No support requests." in chat.text


# ---------------------------------------------------------------- copy


async def test_the_copy_in_english_is_a_json_and_a_text_file_with_only_my_data(app):
    other = Chat(app, user="someone-else")
    await _apply(app, other, ARABIC_ANSWERS)
    chat = Chat(app, user="copy-en", lang="en")
    await _apply(app, chat, ENGLISH_ANSWERS)
    await chat.send("my data")
    await chat.press("md.copy")
    files = [m.extra["attachment"] for m in chat.last if m.extra.get("attachment")]
    assert [f.mime for f in files] == ["application/json", "text/plain"]
    assert files[0].name.startswith("mydata-P-2026-") and files[0].name.endswith(".json")
    raw = [Path(f.ref.removeprefix("file:")).read_bytes() for f in files]
    assert all(b"2123456788" not in blob for blob in raw)  # sealed at rest, like every stored file
    data = json.loads(read_stored(Path(files[0].ref.removeprefix("file:"))))
    (request,) = data["support_requests"]
    assert request["reference"] == "2026-00002" and request["answers"]["national_id"] == "2123456788"
    assert data["contact"]["consent_at"] is not None
    text = read_stored(Path(files[1].ref.removeprefix("file:"))).decode()
    assert "Sara Ahmed Alharbi" in text and "2026-00002" in text
    everything = json.dumps(data, ensure_ascii=False) + text
    assert "1000000008" not in everything and "العتيبي" not in everything  # nobody else's data
    assert [r["reference"] for r in data["support_requests"]] == ["2026-00002"]
    rights = await _rows(app, RightsRequest, RightsRequest.kind == "copy")
    assert [r.status for r in rights] == ["done"]


async def test_the_console_writes_the_copy_where_it_says(app, tmp_path):
    lines: list[str] = []
    console = ConsoleChannel(app.service.handle, "term", app.settings.files_dir, write=lines.append)
    await console.send("بياناتي")
    await console.send("2")  # «نسخة من بياناتي»
    saved = [line for line in lines if "حُفظ الملف في:" in line]
    assert len(saved) == 2
    path = Path(saved[0].split("حُفظ الملف في: ")[1].split("\n")[0].strip())
    assert json.loads(path.read_text())["support_requests"] == []
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# ---------------------------------------------------------------- correct


async def test_a_correction_in_arabic_goes_to_staff_and_the_person_is_told(app, clock):
    chat = Chat(app, user="fix-ar")
    await _apply(app, chat, ARABIC_ANSWERS)
    await chat.send("بياناتي")
    await chat.press("md.correct")
    assert chat.keys == ["mydata.correct.which"]
    await chat.press("mdf.mobile")
    await chat.send("١٢٣")  # not a mobile number: explained, asked again
    assert chat.keys[-1] == "mydata.correct.value" and "error.mobile" in chat.keys
    await chat.send("٠٥٥٩٨٧٦٥٤٣")
    assert chat.keys == ["mydata.correct.recorded"]
    assert "P-2026-00001" in chat.text and "هـ" in chat.text  # reference, and a due date Gregorian + Hijri
    (rights,) = await _rows(app, RightsRequest)
    assert rights.kind == "correct" and rights.status == "open"
    assert rights.detail == {"field": "mobile", "value": "+966559876543"}  # as the form keeps it
    assert (rights.due_at - rights.created_at).days == 30

    desk = RightsDesk(app.db, app.clock, app.form, app.service.files)
    await desk.answer("P-2026-00001", "staff:9001", done=True)
    inbox = await deliver_outbox(app)
    told = [m for m in inbox.messages if m.key == "rights.notify.correct_done"]
    assert told and "P-2026-00001" in told[0].text
    (request,) = await _rows(app, SupportRequest)
    assert request.data["mobile"] == "+966559876543"  # applied to the request
    actions = [a.action for a in await _rows(app, AuditLog, AuditLog.subject == "rights:P-2026-00001")]
    assert actions == ["rights.correct", "rights.done"]


async def test_a_refused_correction_in_english_tells_the_reason(app):
    chat = Chat(app, user="fix-en", lang="en")
    await chat.send("/mydata")
    await chat.press("Correct something")
    await chat.press("Something else")
    await chat.send("My family moved to Dammam")
    assert "P-2026-00001" in chat.text
    desk = RightsDesk(app.db, app.clock, app.form, app.service.files)
    await desk.answer("P-2026-00001", "staff:9001", done=False, reason="Please send the new lease")
    inbox = await deliver_outbox(app)
    (told,) = [m for m in inbox.messages if m.key == "rights.notify.refused"]
    assert "Please send the new lease" in told.text and "SDAIA" in told.text
    await chat.send("my data")  # the answer is in the summary too (what a WhatsApp template points to)
    await chat.press("md.see")
    assert "correction request P-2026-00001: refused — Please send the new lease" in chat.text


# ---------------------------------------------------------------- delete


async def test_deleting_in_arabic_keeps_the_minimal_record_and_removes_the_files(any_app):
    app = any_app  # SQLite and PostgreSQL
    chat = Chat(app, user="erase-ar")
    await _apply(app, chat, ARABIC_ANSWERS, real_file=True)
    decisions = DecisionService(app.db, app.clock, app.form)
    assert (await decisions.decide("2026-00001", Action.APPROVE, "staff:9001", "")).ok
    await chat.send(option="menu.volunteer")  # a volunteer registration half-way is also theirs
    await chat.send("بياناتي")
    await chat.press("md.copy")  # a copy on file: it goes too
    assert len(_stored_files(app)) == 3
    await chat.send("بياناتي")
    await chat.press("md.erase")
    assert chat.keys == ["mydata.erase.explain"]
    assert "١٠ سنوات" in chat.text or "10 سنوات" in chat.text  # BOT_RETENTION_YEARS, said before
    await chat.press("md.no")
    assert "mydata.kept" in chat.keys and await _rows(app, RightsRequest, RightsRequest.kind == "erase") == []
    await chat.press("md.erase")
    await chat.press("md.yes")
    assert chat.keys == ["mydata.erase.recorded"] and "P-2026-00002" in chat.text

    await RightsDesk(app.db, app.clock, app.form, app.service.files).answer(
        "P-2026-00002", "staff:9001", done=True
    )
    assert _stored_files(app) == []  # the ID photo and the copies, gone from data/files
    (request,) = await _rows(app, SupportRequest)
    assert request.reference == "2026-00001" and request.status == "approved"  # the minimal record stays
    assert request.data["national_id"] == "1000000008" and "description" not in request.data
    assert await _rows(app, Attachment) == []
    state = await chat.state()
    assert state.draft == {}
    inbox = await deliver_outbox(app)
    (told,) = [m for m in inbox.messages if m.key == "rights.notify.erase_done"]
    assert "P-2026-00002" in told.text
    (contact,) = await _rows(app, Contact, Contact.channel_user_id == "erase-ar")
    assert contact.consent_at is None and contact.consent_withdrawn_at is not None


async def test_deleting_in_english_empties_an_undecided_request_and_anonymises_forms(app):
    chat = Chat(app, user="erase-en", lang="en")
    await _apply(app, chat, ENGLISH_ANSWERS)
    async with app.db.transaction() as session:
        session.add(
            FormSubmission(
                form="feedback",
                reference="F-2026-00001",
                contact_id=(await session.execute(select(Contact.id))).scalar_one(),
                channel="console",
                data={"message": "the queue was long"},
                submitted_at=app.clock.now(),
                updated_at=app.clock.now(),
            )
        )
    await chat.send("my data")
    await chat.press("Delete my data")
    assert "for 10 years" in chat.text
    await chat.press("Yes, delete my data")
    await RightsDesk(app.db, app.clock, app.form, app.service.files).answer(
        "P-2026-00001", "staff:1", done=True
    )
    (request,) = await _rows(app, SupportRequest)
    assert request.status == "closed" and request.data == {}
    (submission,) = await _rows(app, FormSubmission)
    assert submission.contact_id is None and submission.data == {}


# ---------------------------------------------------------------- withdraw consent


async def test_withdrawing_consent_in_english_stops_polls_and_reminders(any_app, clock):
    app = any_app  # SQLite and PostgreSQL
    chat = Chat(app, user="withdraw-en", lang="en")
    await _apply(app, chat, ENGLISH_ANSWERS)
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=app.service.settings.survey_delay)
    for action in (Action.APPROVE, Action.REGISTER, Action.DELIVER):
        assert (await decisions.decide("2026-00001", action, "staff:9001", "")).ok
    polls = await _rows(app, OutboxMessage, OutboxMessage.kind.in_(["survey", "survey_reminder"]))
    assert len(polls) == 2  # a poll and its reminder were waiting
    await deliver_outbox(app)  # the decisions reach the person before they withdraw

    await chat.send("my data")
    await chat.press("Withdraw my consent")
    assert chat.keys == ["mydata.withdraw.explain"]
    await chat.press("Yes, withdraw my consent")
    assert chat.keys == ["mydata.withdraw.done"] and "no polls or reminders" in chat.text

    clock.advance(days=3)  # past the poll and its reminder
    inbox = ConsoleInbox()
    worker = OutboxWorker(app.db, app.clock, {"console": inbox}, render_row(app), max_attempts=3)
    await worker.tick()
    assert [m.key for m in inbox.messages if m.key.startswith("survey")] == []
    assert {r.state for r in await _rows(app, OutboxMessage, OutboxMessage.kind.like("survey%"))} == {
        "cancelled"
    }


async def test_withdrawing_consent_in_arabic_means_no_still_studying_reminder(app, clock):
    chat = Chat(app, user="withdraw-ar")
    await _apply(app, chat, ARABIC_ANSWERS)
    await chat.send("بياناتي")
    await chat.press("md.withdraw")
    await chat.press("md.yes")
    assert "لن تصلك استبيانات ولا تذكيرات" in chat.text
    clock.advance(days=app.service.settings.decision_days + 1)
    digest = await overdue_digest(app.db, app.clock)
    assert (
        digest.count == 1 and digest.reminders_queued == 0
    )  # staff still see it; the person is not reminded
    inbox = await deliver_outbox(app)
    assert [m.key for m in inbox.messages if m.key == "notify.still_studying"] == []
    await chat.send(option="menu.volunteer")  # a new form asks for consent again
    assert "consent.yes" in chat.option_ids


# ---------------------------------------------------------------- the digest


async def test_an_overdue_rights_request_is_in_the_daily_digest(app, clock):
    chat = Chat(app, user="late")
    await chat.send("بياناتي")
    await chat.press("md.correct")
    await chat.press("mdf.city")
    await chat.send("الدمام")
    assert await overdue_rights_text(app.db, clock.now()) == ""
    clock.advance(days=31)
    text = await overdue_rights_text(app.db, clock.now())
    assert "P-2026-00001" in text and "تصحيح" in text and "31" in text
