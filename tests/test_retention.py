"""Retention with a moved clock: expired drafts go, and BOT_RETENTION_DAYS after a request is closed its files,
free text and relay history go while the minimal record (and so the reports) stays."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from bot.cli import main
from bot.privacy import retention_of
from flows.decisions import DecisionService
from flows.lifecycle import Action
from flows.reports import compute_report
from storage.models import Attachment, AuditLog, RequestStatusChange, SupportRequest
from storage.outbox import OutboxMessage
from tests.conftest import ARABIC_ANSWERS, ENGLISH_ANSWERS, Chat, pdf
from tests.sample_files import JPEG

DESCRIPTION = "زوجي متوفى ونحتاج سلة غذائية"


async def _submit_and_reject(app) -> Chat:  # type: ignore[no-untyped-def]
    chat = Chat(app)
    await chat.send(option="menu.apply")
    await chat.press("consent.yes")
    for answer in ARABIC_ANSWERS.values():
        await chat.send(answer)
    await chat.send(option="c.food")
    await chat.send(DESCRIPTION)
    await chat.send(file=app.service.files.store(JPEG, name="id.jpg"))
    await chat.send(file=pdf())
    await chat.press("summary.send")
    await chat.press("declaration.confirm")
    assert chat.keys == ["submitted.text"]
    decisions = DecisionService(app.db, app.clock, app.form)
    outcome = await decisions.decide("2026-00001", Action.REJECT, "staff:9001", "الدخل أعلى من الحد")
    assert outcome.ok
    return chat


def _stored_files(app) -> list:  # type: ignore[no-untyped-def]
    return (
        [p for p in app.settings.files_dir.iterdir() if p.is_file()]
        if app.settings.files_dir.exists()
        else []
    )


async def test_a_closed_request_keeps_its_minimal_record_and_loses_files_text_and_relay_after_retention(
    app, clock, capsys, monkeypatch
):
    await _submit_and_reject(app)
    async with app.db.transaction() as session:  # the outbox worker sent the decision (no channel here)
        await session.execute(update(OutboxMessage).values(state="sent", sent_at=clock.now()))
    report_before = await compute_report(app.db, clock.now(), None, None)
    assert len(_stored_files(app)) == 1
    retention = retention_of(app)

    clock.advance(days=app.settings.retention_days - 1)  # not yet
    plan = await retention.run(clock.now(), dry_run=True)
    assert plan.requests == []

    clock.advance(days=2)
    plan = await retention.run(clock.now(), dry_run=True)
    assert [reference for reference, *_ in plan.requests] == ["2026-00001"]
    (_, files, texts, relay) = plan.requests[0]
    assert files == 2 and texts == 2 and relay >= 1  # description + the rejection reason; the decision notice
    assert len(_stored_files(app)) == 1  # a dry run deletes nothing

    await retention.run(clock.now())

    async with app.db.transaction() as session:
        request = (await session.execute(select(SupportRequest))).scalar_one()
        attachments = (await session.execute(select(Attachment))).scalars().all()
        notes = (await session.execute(select(RequestStatusChange.note))).scalars().all()
        outbox = (await session.execute(select(OutboxMessage))).scalars().all()
        audit = (
            (await session.execute(select(AuditLog).where(AuditLog.action == "request.purged")))
            .scalars()
            .all()
        )
    assert request.status == "rejected" and request.purged_at == clock.now()
    assert request.data["national_id"] == "1000000008" and request.support_type == "food"
    assert "description" not in request.data and "id_photo" not in request.data
    assert attachments == [] and _stored_files(app) == []
    assert all(note is None for note in notes)
    assert outbox == []
    assert len(audit) == 1 and audit[0].detail == {"files": 2, "texts": 2, "relay": relay}
    assert DESCRIPTION not in str(audit[0].detail)

    report_after = await compute_report(app.db, clock.now(), None, None)
    assert report_after.requests == report_before.requests == 1
    assert report_after.by_status == report_before.by_status
    assert report_after.median_days_to_decision == report_before.median_days_to_decision

    assert (await retention.run(clock.now(), dry_run=True)).requests == []  # purged once

    # The command line shows the same without personal data.
    monkeypatch.setenv("BOT_DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("BOT_DATA_DIR", str(app.settings.data_dir))
    assert await asyncio.to_thread(main, ["privacy", "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete:" in out and "closed requests past retention: 0" in out


async def test_an_expired_draft_is_deleted_with_its_file_and_a_fresh_one_is_kept(app, clock):
    old = Chat(app, user="old")
    await old.send(option="menu.apply")
    await old.press("consent.yes")
    for answer in ARABIC_ANSWERS.values():
        await old.send(answer)
    await old.send(option="c.food")
    await old.send(DESCRIPTION)
    await old.send(file=app.service.files.store(JPEG, name="id.jpg"))
    assert len(_stored_files(app)) == 1
    clock.advance(hours=app.service.settings.draft_expiry.total_seconds() / 3600 - 1)
    fresh = Chat(app, user="fresh", lang="en")
    await fresh.send(option="menu.apply")
    await fresh.press("consent.yes")
    await fresh.send(ENGLISH_ANSWERS["full_name"])

    clock.advance(hours=2)
    plan = await retention_of(app).run(clock.now())

    assert plan.drafts == [(await _contact_id(app, "old"))]
    assert (await old.state()).draft == {} and _stored_files(app) == []
    assert (await fresh.state()).draft["full_name"] == ENGLISH_ANSWERS["full_name"]
    await old.send("/start")  # coming back: the menu, no offer to resume the old form
    assert "menu.apply" in old.option_ids and not any("resume" in key for key in old.keys)


async def _contact_id(app, user: str) -> int:  # type: ignore[no-untyped-def]
    from storage.models import Contact

    async with app.db.transaction() as session:
        return (await session.execute(select(Contact.id).where(Contact.channel_user_id == user))).scalar_one()
