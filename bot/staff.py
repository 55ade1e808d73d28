"""`python -m bot staff …`: the staff desk on the command line, for the association's admin and for trying
the whole product from a terminal. Decisions go through the same DecisionService as the Telegram desk (same
legal transitions, audit entries and notifications); only the front end differs.

Also the terminal chat's notices: a console contact's outbox rows are delivered by the chat itself
(``console_notices``), so a decision taken here shows up in the other terminal.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flows.lifecycle import Action
from locales import N_, Translator, translator

PENDING_LIMIT = 50
DECISIONS = {
    "approve": Action.APPROVE,
    "reject": Action.REJECT,
    "needinfo": Action.NEED_INFO,
    "registered": Action.REGISTER,
    "delivered": Action.DELIVER,
}


def add_staff_commands(commands: Any) -> None:
    staff = commands.add_parser(
        "staff", help="the staff desk from the terminal: pending requests, a request, decisions"
    )
    staff.add_argument("--lang", choices=["ar", "en"], default=None, help="language of the output")
    sub = staff.add_subparsers(dest="staff_command", metavar="SUBCOMMAND", required=True)
    sub.add_parser("pending", help="open requests, oldest first (personal data masked)")
    show = sub.add_parser("show", help="a request's card by reference or national ID (masked unless --full)")
    show.add_argument("query", metavar="REF|NATIONAL_ID")
    show.add_argument("--full", action="store_true", help="the full record (the access is audited)")
    for name, text in (
        ("approve", "approve the request; the applicant is told"),
        ("reject", "reject the request with a reason; the applicant is told"),
        ("needinfo", "ask the applicant for more information (named form fields)"),
        ("registered", "registration complete; the applicant is told"),
        ("delivered", "service delivered; the applicant is told and gets the satisfaction poll"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("reference", metavar="REF")
        if name == "reject":
            command.add_argument("--reason", required=True, help="the reason the applicant will read")
        elif name == "needinfo":
            command.add_argument("--fields", default="", help="form field names, e.g. mobile,city")
            command.add_argument("--note", required=True, help="what is missing, in words for the applicant")
        else:
            command.add_argument("--note", default=None, help="an optional note for the applicant")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):  # no user name in a container
        return "cli:unknown"


async def run_staff_command(settings: Any, args: argparse.Namespace) -> int:
    from bot.app import build_app

    t = translator(args.lang or settings.default_language)
    app = await build_app(settings)
    try:
        if args.staff_command == "pending":
            print(await pending_text(app, t))
            return 0
        if args.staff_command == "show":
            return await _show(app, t, args.query, args.full)
        return await _decide(app, t, args)
    finally:
        await app.close()


# ---- reading ---------------------------------------------------------------------------------------


async def pending_text(app: Any, t: Translator) -> str:
    from flows.privacy import mask_name
    from storage import desk as desk_repo

    zone = ZoneInfo(app.settings.timezone)
    async with app.db.transaction() as session:
        requests = await desk_repo.open_requests(session, PENDING_LIMIT)
        total = await desk_repo.count_open_requests(session)
    if not requests:
        return t("desk.pending.none_requests")
    lines = [t("desk.pending.requests", count=t.number(total))]
    for request, card in requests:
        params = {
            "reference": request.reference,
            "name": mask_name(request.data.get("full_name")),
            "status": _status(t, request.status),
            "date": request.submitted_at.astimezone(zone).date().isoformat(),
        }
        if card is not None and card.claimed_by_name:
            lines.append(t("desk.pending.request_line_claimed", claimer=card.claimed_by_name, **params))
        else:
            lines.append(t("desk.pending.request_line", **params))
    if total > len(requests):
        lines.append(t("desk.pending.more", count=t.number(total - len(requests))))
    return "\n".join(lines)


async def _show(app: Any, t: Translator, query: str, full: bool) -> int:
    from flows.lookup import find_requests, parse_reference
    from storage import repo

    async with app.db.transaction() as session:
        requests = await find_requests(session, query)
        texts = [await (full_record if full else card_text)(session, request, app, t) for request in requests]
        if full:
            for request in requests:
                await repo.audit(
                    session,
                    _actor(),
                    "request.record_viewed",
                    f"request:{request.reference}",
                    app.clock.now(),
                )
    if not requests:
        shown = parse_reference(query) or query.strip()[:20]
        print(t("desk.find.not_found", reference=shown), file=sys.stderr)
        return 1
    print("\n\n".join(texts))
    return 0


async def card_text(session: Any, request: Any, app: Any, t: Translator) -> str:
    """The request card as the staff group sees it: personal data masked, the same ID on other requests."""
    from flows.engine import display_value
    from flows.lookup import same_id_line
    from flows.privacy import mask_mobile, mask_name, mask_national_id
    from storage import repo

    attachments = await repo.attachments_of(session, request.id)
    support_field = app.form.field("support_type")
    support = display_value(support_field, request.support_type, t) if support_field else request.support_type
    lines = [
        t("desk.card.resubmitted") if request.status == "resubmitted" else t("desk.card.new"),
        t(
            "desk.card.body",
            reference=request.reference,
            name=mask_name(request.data.get("full_name")),
            national_id=mask_national_id(request.data.get("national_id")),
            mobile=mask_mobile(request.data.get("mobile")),
            support=support,
            date=_date(app, t, request.submitted_at),
            attachments=t.number(len(attachments)),
            status=_status(t, request.status),
        ),
    ]
    same_id = await same_id_line(session, request, t, mask_national_id)
    if same_id:
        lines.append(same_id)
    return "\n".join(lines)


async def full_record(session: Any, request: Any, app: Any, t: Translator) -> str:
    from flows.engine import display_value
    from storage import repo

    lines = [t("desk.record.title", reference=request.reference)]
    for form_field in app.form.fields:
        value = display_value(form_field, request.data.get(form_field.name), t)
        lines.append(f"• {t(form_field.label)}: {value}")
    for row in await repo.attachments_of(session, request.id):
        lines.append(f"  {row.field}: {row.ref.removeprefix('file:')}")
    lines.append(t("desk.record.status", status=_status(t, request.status)))
    lines.append(
        t(
            "desk.record.dates",
            submitted=_date(app, t, request.submitted_at),
            due=_date(app, t, request.due_at),
        )
    )
    lines.append(
        t(
            "desk.record.declaration",
            version=request.declaration_version,
            date=_date(app, t, request.declared_at),
        )
    )
    from flows.access import accesses_line, last_accesses

    previous = await last_accesses(session, request.reference)
    lines.append(accesses_line(previous, t, lambda moment: _date(app, t, moment)))
    return "\n".join(lines)


def _status(t: Translator, status: str) -> str:
    key = f"status.{status}"
    return t(key) if t.has(key) else status


def _date(app: Any, t: Translator, moment: Any) -> str:
    return t.date(moment.astimezone(ZoneInfo(app.settings.timezone)))


# ---- deciding --------------------------------------------------------------------------------------


async def _decide(app: Any, t: Translator, args: argparse.Namespace) -> int:
    from flows.decisions import DecisionService
    from flows.lookup import parse_reference

    action = DECISIONS[args.staff_command]
    reference = parse_reference(args.reference) or args.reference.strip()
    note = getattr(args, "reason", None) or getattr(args, "note", None)
    fields = [name.strip() for name in getattr(args, "fields", "").split(",") if name.strip()] or None
    delay = timedelta(seconds=app.settings.survey_delay_seconds)
    decisions = DecisionService(app.db, app.clock, app.form, survey_delay=delay)
    outcome = await decisions.decide(reference, action, _actor(), note=note, fields=fields)
    if not outcome.ok:
        if outcome.message_key == "decision.fields_needed":
            names = ", ".join(f.name for f in app.form.fields)
            print(t(N_("staffcli.fields_needed"), fields=names), file=sys.stderr)
        else:
            params = dict(outcome.params)
            if "status" in params and outcome.from_status:
                params["status"] = _status(t, outcome.from_status)
            print(t(outcome.message_key, **params), file=sys.stderr)
        return 1
    print(t(outcome.message_key, reference=outcome.reference, status=_status(t, outcome.to_status or "")))
    if action == Action.DELIVER:
        due = app.clock.now() + delay
        print(
            t(
                N_("staffcli.poll_due"),
                time=due.astimezone(ZoneInfo(app.settings.timezone)).strftime("%H:%M"),
                seconds=t.number(app.settings.survey_delay_seconds),
            )
        )
    return 0


# ---- the terminal chat's notices -------------------------------------------------------------------


def console_notices(app: Any, channel: Any) -> Callable[[], Awaitable[int]]:
    """Deliver this terminal contact's due outbox rows (decisions, reminders, polls) through the chat: the
    same worker, retries and marking as every channel, claiming only this contact's rows."""
    from bot.delivery import render_row, staff_alerts
    from flows.survey import sync_sent_polls
    from storage.outbox import OutboxWorker

    worker = OutboxWorker(
        app.db,
        app.clock,
        {"console": channel.deliver},
        render_row(app),
        max_attempts=app.settings.outbox_max_attempts,
        alert=staff_alerts(app, None),
        only_user=channel.key.user_id,
    )

    async def show() -> int:
        sent = await worker.tick()
        if sent:
            await sync_sent_polls(app.db)
        return sent

    return show
