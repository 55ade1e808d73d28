"""python -m bot <command>: the assistant's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.settings import SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Mustafid (مستفيد): the beneficiary assistant. Settings come from BOT_* variables or .env.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser("chat", help="talk to the assistant in this terminal (no tokens needed)")
    chat.add_argument("--lang", choices=["ar", "en"], default=None, help="language of a new conversation")
    chat.add_argument("--contact", default=None, help="a name to come back later as the same person")

    commands.add_parser("migrate", help="apply the database migrations (also done on every start)")
    run = commands.add_parser(
        "run",
        help="serve the web chat (open the printed URL) and every configured channel (Telegram when BOT_TELEGRAM_TOKEN is set)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N worker processes on one listening socket (PostgreSQL and the Telegram webhook; see docs/deploy.md)",
    )

    ask = commands.add_parser("ask", help="print the answer the assistant gives to a question")
    ask.add_argument("question", nargs="?", default=None)
    ask.add_argument(
        "--lang", choices=["ar", "en"], default=None, help="language of the answer (default: the question's)"
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object (one a line with --batch)")
    ask.add_argument(
        "--batch", metavar="FILE", default=None, help="one question a line; '-' reads standard input"
    )

    from bot.staff import add_staff_commands

    add_staff_commands(commands)
    from bot.keys import add_key_commands

    add_key_commands(commands)
    from bot.privacy import add_privacy_commands

    add_privacy_commands(commands)

    faq = commands.add_parser("faq", help="FAQ tools for content editors")
    faq_commands = faq.add_subparsers(dest="faq_command", metavar="SUBCOMMAND", required=True)
    gaps = faq_commands.add_parser(
        "gaps", help="the most frequent unanswered questions (normalised, digits removed; stored sealed)"
    )
    gaps.add_argument("--limit", type=int, default=20)
    faq_commands.add_parser("check", help="load and check the guides and the form, then exit")

    report = commands.add_parser("report", help="managers' figures: requests, time to decision, satisfaction")
    _period_arguments(report)
    report.add_argument("--format", choices=["text", "csv"], default="text")
    report.add_argument("--lang", choices=["ar", "en"], default=None, help="language of the text report")
    report.add_argument(
        "--chart", metavar="FILE.png", default=None, help="draw the weekly chart into this file"
    )
    report.add_argument("--output", metavar="FILE", default=None, help="write to a file (CSV opens in Excel)")

    export = commands.add_parser("export", help="export data for managers")
    export_commands = export.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    requests = export_commands.add_parser("requests", help="support requests, personal data masked")
    _period_arguments(requests)
    requests.add_argument("--format", choices=["csv"], default="csv")
    requests.add_argument("--full", action="store_true", help="unmasked names, national IDs and phones")
    requests.add_argument("--output", metavar="FILE", default=None, help="write to a file (opens in Excel)")
    volunteers = export_commands.add_parser(
        "volunteers", help="volunteers' registrations, personal data masked"
    )
    volunteers.add_argument(
        "--full", action="store_true", help="unmasked names, national IDs, phones, e-mail"
    )
    volunteers.add_argument("--output", metavar="FILE", default=None, help="write to a file (opens in Excel)")
    return parser


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="date_from", metavar="YYYY-MM-DD", default=None, help="first day (local)"
    )
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", default=None, help="last day (local)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.app import StartupError

    try:
        settings = load_settings()
        from bot.keys import install_from

        install_from(settings)
        return asyncio.run(_COMMANDS[args.command](settings, args))
    except (SettingsError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _chat(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.app import build_app
    from bot.staff import console_notices
    from handlers.console import ConsoleChannel

    app = await build_app(settings)
    contact = args.contact or f"guest-{uuid.uuid4().hex[:8]}"
    handle, handled = app.service.handle, []
    if app.faq is not None:
        app.faq.background = True

    async def handle_then_warm(*args, **kwargs):  # type: ignore[no-untyped-def]
        # The greeting and menus need no FAQ index: build it in the background after the first reply to
        # something the person typed (a question before then is answered lexically within a second).
        reply = await handle(*args, **kwargs)
        handled.append(True)
        if len(handled) == 2 and app.faq is not None:
            app.faq.warm()
        return reply

    try:
        channel = ConsoleChannel(
            handle_then_warm,
            contact,
            settings.files_dir,
            lang=args.lang or settings.default_language,
            poll_seconds=settings.outbox_tick_seconds,
        )
        channel.notices = console_notices(app, channel)
        await channel.run()
    finally:
        await app.close()
    return 0


async def _migrate(settings, args) -> int:  # type: ignore[no-untyped-def]
    from storage.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    print("migrations applied")
    return 0


async def _run(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.runner import run_channels

    if args.workers != 1:
        from bot.workers import run_workers

        return await run_workers(settings, args.workers)
    return await run_channels(settings)


async def _ask(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.app import load_content
    from bot.ask import answer_language, ask_batch, payload, print_text

    if (args.question is None) == (args.batch is None):
        print("error: give one question, or --batch FILE (or - for standard input)", file=sys.stderr)
        return 2
    if args.question is not None and not args.question.strip():
        print('error: the question is empty; type it in quotes, e.g. ask "كيف اقدم طلب"', file=sys.stderr)
        return 2
    source = None
    if args.batch is not None:
        try:
            source = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8-sig")  # noqa: SIM115
        except OSError as exc:
            print(f"error: cannot read {args.batch}: {exc.strerror}", file=sys.stderr)
            return 2
    _form, faq = load_content(settings)
    if faq is None:
        print("error: no guides in content/guides", file=sys.stderr)
        return 2
    if source is not None:
        try:
            ask_batch(faq, source, sys.stdout, args.json, args.lang)
        except UnicodeDecodeError:
            print(f"error: {args.batch} is not UTF-8 text", file=sys.stderr)
            return 2
        finally:
            if source is not sys.stdin:
                source.close()
        return 0
    result = faq(args.question)
    if args.json:
        print(json.dumps(payload(result, args.lang), ensure_ascii=False))
    else:
        print_text(result, answer_language(result, args.lang), sys.stdout)
    return 0


async def _faq(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.app import load_content

    if args.faq_command == "check":
        form, faq = load_content(settings)
        count = len(faq._by_id) if faq is not None else 0
        print(f"ok: form '{form.name}' with {len(form.fields)} fields; {count} guide entries")
        return 0
    from storage import repo
    from storage.db import Database
    from storage.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            gaps = await repo.top_gaps(session, args.limit)
    finally:
        await db.dispose()
    if not gaps:
        print("no unanswered questions recorded")
        return 0
    print("count  lang  question (normalised)")
    for gap in gaps:
        print(f"{gap.count:5d}  {gap.lang:4s}  {gap.key}")
    return 0


class _BadPeriod(Exception):
    pass


_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def _period(args) -> tuple[date | None, date | None]:  # type: ignore[no-untyped-def]
    days = []
    for option, value in (("--from", args.date_from), ("--to", args.date_to)):
        if value is None:
            days.append(None)
            continue
        try:
            days.append(date.fromisoformat(value.strip().translate(_DIGITS)))
        except ValueError:
            raise _BadPeriod(f"{option}: expected a date as YYYY-MM-DD, got {value!r}") from None
    if days[0] is not None and days[1] is not None and days[0] > days[1]:
        raise _BadPeriod(f"--from {days[0]} is after --to {days[1]}")
    return days[0], days[1]


def _write(text: str, output: str | None, csv: bool) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    # Excel reads a CSV as UTF-8 (and so shows Arabic) only when it starts with a byte-order mark.
    Path(output).write_text(text, encoding="utf-8-sig" if csv else "utf-8")
    print(f"written: {output}")


async def _open_database(settings):  # type: ignore[no-untyped-def]
    from storage.db import Database
    from storage.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    return Database(settings.database_url)


async def _report(settings, args) -> int:  # type: ignore[no-untyped-def]
    from flows.clock import SystemClock

    try:
        date_from, date_to = _period(args)
    except _BadPeriod as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    now = SystemClock().now()
    db = await _open_database(settings)
    try:
        if args.chart:
            from bot.reporting import draw_chart
            from flows.form_reports import form_figures
            from flows.reports import weekly_series

            series = await weekly_series(db, now, date_from, date_to, tz=settings.timezone)
            feedback, volunteers = await form_figures(db, series.date_from, series.date_to, settings.timezone)
            draw_chart(series, args.chart, args.lang or settings.default_language, feedback, volunteers)
            print(
                f"chart written: {args.chart} ({len(series.weeks)} weeks, {series.date_from} to {series.date_to})"
            )
            return 0
        from flows.form_reports import csv_rows, form_figures
        from flows.reports import compute_report, format_csv, format_text

        report = await compute_report(db, now, date_from, date_to, tz=settings.timezone)
        forms = await form_figures(db, date_from, date_to, settings.timezone)
    finally:
        await db.dispose()
    if args.format == "csv":
        _write(format_csv(report, csv_rows(*forms)), args.output, csv=True)
    else:
        from bot.form_export import feedback_report

        text = format_text(report, args.lang or settings.default_language)
        text += "\n\n" + await feedback_report(settings, date_from, date_to, args.lang, _open_database)
        _write(text, args.output, csv=False)
    return 0


async def _export(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.progress import terminal_progress
    from bot.reporting import export_requests_csv

    if args.export_command == "volunteers":
        from bot.form_export import export_volunteers

        return await export_volunteers(settings, args, _open_database, _write)

    try:
        date_from, date_to = _period(args)
    except _BadPeriod as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = await _open_database(settings)
    try:
        text = await export_requests_csv(
            db,
            full=args.full,
            tz=settings.timezone,
            date_from=date_from,
            date_to=date_to,
            actor="cli",
            progress=terminal_progress("export", "row"),
        )
    finally:
        await db.dispose()
    if args.full:
        print(
            "warning: this export holds full personal data; keep it safe and delete it after use",
            file=sys.stderr,
        )
    _write(text, args.output, csv=True)
    return 0


async def _staff(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.staff import run_staff_command

    return await run_staff_command(settings, args)


async def _keys(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.keys import run_keys_command

    return await run_keys_command(settings, args)


async def _privacy(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.privacy import run_privacy_command

    return await run_privacy_command(settings, args)


_COMMANDS = {
    "chat": _chat,
    "migrate": _migrate,
    "run": _run,
    "ask": _ask,
    "faq": _faq,
    "report": _report,
    "export": _export,
    "staff": _staff,
    "keys": _keys,
    "privacy": _privacy,
}
