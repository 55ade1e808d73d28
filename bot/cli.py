"""python -m bot <command>: the assistant's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Sequence

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
    commands.add_parser("run", help="run every configured channel (Telegram when BOT_TELEGRAM_TOKEN is set)")

    ask = commands.add_parser("ask", help="print the answer the assistant gives to a question")
    ask.add_argument("question")
    ask.add_argument("--lang", choices=["ar", "en"], default=None, help="(the answer follows the question's language)")
    ask.add_argument("--json", action="store_true", help="print one JSON object")

    faq = commands.add_parser("faq", help="FAQ tools for content editors")
    faq_commands = faq.add_subparsers(dest="faq_command", metavar="SUBCOMMAND", required=True)
    gaps = faq_commands.add_parser("gaps", help="the most frequent unanswered questions (no personal data)")
    gaps.add_argument("--limit", type=int, default=20)
    faq_commands.add_parser("check", help="load and check the guides and the form, then exit")
    return parser


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
        return asyncio.run(_COMMANDS[args.command](settings, args))
    except (SettingsError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _chat(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.app import build_app
    from handlers.console import ConsoleChannel

    app = await build_app(settings)
    contact = args.contact or f"guest-{uuid.uuid4().hex[:8]}"
    try:
        channel = ConsoleChannel(
            app.service.handle, contact, settings.files_dir, lang=args.lang or settings.default_language
        )
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

    return await run_channels(settings)


async def _ask(settings, args) -> int:  # type: ignore[no-untyped-def]
    from bot.app import load_content
    from locales import translator

    _form, faq = load_content(settings)
    if faq is None:
        print("error: no guides in content/guides", file=sys.stderr)
        return 2
    result = faq(args.question)
    lang = getattr(result, "lang", args.lang or "ar")
    entry = result.entry if result.status == "confident" else None
    payload = {
        "matched": entry is not None,
        "answer": entry.answer[lang] if entry else None,
        "entry": entry.id if entry else None,
        "source": f"{entry.guide}/{entry.section.get('en', '')}" if entry else None,
        "score": round(float(result.score), 4),
        "suggestions": [s.id for s in result.suggestions],
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False))
    elif entry is not None:
        t = translator(lang)
        print(entry.answer[lang])
        print(t("faq.source", guide=entry.guide_title.get(lang, ""), section=entry.section.get(lang, "")))
    else:
        t = translator(lang)
        if result.suggestions:
            print(t("faq.did_you_mean"))
            for suggestion in result.suggestions:
                print(f"  - {suggestion.questions[lang][0]}  [{suggestion.id}]")
        else:
            print(t("faq.no_answer"))
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


_COMMANDS = {"chat": _chat, "migrate": _migrate, "run": _run, "ask": _ask, "faq": _faq}
