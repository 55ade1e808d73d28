"""`python -m bot export volunteers`: the volunteers' registrations as CSV, masked as on the staff desk unless
--full (each export is written to the audit log)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.progress import Progress, read_rows, terminal_progress
from flows.form import FieldKind, FormDefinition
from flows.form_runner import display_value
from flows.privacy import mask_mobile, mask_name, mask_national_id
from flows.reports import write_csv
from handlers.desk_forms import mask_email
from locales import translator
from storage import repo
from storage.db import Database
from storage.forms import FormSubmission


def _cell(form: FormDefinition, name: str, value: object, full: bool, lang: str) -> str:
    form_field = form.field(name)
    if form_field is None or value is None:
        return ""
    if not full:
        if form_field.validator == "full_name":
            return mask_name(value)
        if form_field.validator == "saudi_national_id":
            return mask_national_id(value)
        if form_field.validator == "saudi_mobile":
            return mask_mobile(value)
        if form_field.kind == FieldKind.EMAIL:
            return mask_email(value)
    if (
        form_field.kind in (FieldKind.TEXT, FieldKind.EMAIL, FieldKind.NUMBER)
        or form_field.kind == FieldKind.DATE
    ):
        return str(value)
    return (
        display_value(form_field, value, translator(lang), form).replace("\u2068", "").replace("\u2069", "")
    )


async def export_submissions_csv(
    db: Database,
    form: FormDefinition,
    full: bool = False,
    tz: str = "Asia/Riyadh",
    actor: str = "system",
    lang: str = "ar",
    now: datetime | None = None,
    progress: Progress | None = None,
) -> str:
    zone = ZoneInfo(tz)
    statement = (
        select(FormSubmission)
        .where(FormSubmission.form == form.name)
        .order_by(FormSubmission.submitted_at, FormSubmission.id)
    )
    async with db.transaction() as session:
        rows = await read_rows(session, statement, progress)
        moment = now or datetime.now(ZoneInfo("UTC"))
        await repo.audit(session, actor, f"export.{form.name}", form.name, moment, full=full, rows=len(rows))
    names = [f.name for f in form.fields]
    header = ["reference", "status", "submitted_at", "channel", *names]
    table = [
        [
            row.reference,
            row.status,
            row.submitted_at.astimezone(zone).isoformat(timespec="seconds"),
            row.channel or "",
            *(_cell(form, name, row.data.get(name), full, lang) for name in names),
        ]
        for row in rows
    ]
    return write_csv(header, table)


async def export_volunteers(settings, args, open_database, write) -> int:  # type: ignore[no-untyped-def]
    import sys

    from bot.app import load_other_forms

    form = next((f for f in load_other_forms(settings) if f.name == "volunteer"), None)
    if form is None:
        print("error: content/forms/volunteer.yaml is missing", file=sys.stderr)
        return 2
    db = await open_database(settings)
    try:
        text = await export_submissions_csv(
            db,
            form,
            full=args.full,
            tz=settings.timezone,
            actor="cli",
            lang=settings.default_language,
            progress=terminal_progress("export", "row"),
        )
    finally:
        await db.dispose()
    if args.full:
        print(
            "warning: this export holds full personal data; keep it safe and delete it after use",
            file=sys.stderr,
        )
    write(text, args.output, csv=True)
    return 0


async def feedback_report(settings, date_from, date_to, lang, open_database) -> str:  # type: ignore[no-untyped-def]
    """The suggestions-and-complaints part of `python -m bot report`."""
    from flows.form_reports import feedback_figures, format_feedback
    from flows.reports import period_bounds

    start, end = period_bounds(date_from, date_to, settings.timezone)
    db = await open_database(settings)
    try:
        figures = await feedback_figures(db, start, end)
    finally:
        await db.dispose()
    return format_feedback(figures, lang or settings.default_language)
