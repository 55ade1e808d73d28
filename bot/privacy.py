"""``python -m bot privacy purge [--dry-run]`` and the daily retention job (flows/retention.py)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.settings import Settings
from flows.retention import Retention

log = logging.getLogger(__name__)


def retention_of(app: Any) -> Retention:
    settings = app.settings
    return Retention(
        app.db,
        app.form,
        app.service.files,
        retention_days=settings.retention_days,
        draft_expiry=app.service.settings.draft_expiry,
    )


def daily_retention(app: Any) -> Callable[[], Awaitable[None]]:
    """The scheduler's job: purge what is past retention; the log holds counts only."""

    async def job() -> None:
        plan = await retention_of(app).run(app.clock.now())
        log.info(
            "retention: %d drafts, %d closed requests, %d inbox rows deleted",
            len(plan.drafts),
            len(plan.requests),
            plan.inbox_rows,
        )

    return job


def add_privacy_commands(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="personal data: retention")
    sub = privacy.add_subparsers(dest="privacy_command", metavar="SUBCOMMAND", required=True)
    purge = sub.add_parser(
        "purge", help="delete what is past retention (drafts, closed requests' files and texts)"
    )
    purge.add_argument("--dry-run", action="store_true", help="only show what would go (ids and counts)")


async def run_privacy_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build_app

    app = await build_app(settings)
    try:
        plan = await retention_of(app).run(app.clock.now(), dry_run=args.dry_run)
    finally:
        await app.close()
    print("would delete:" if args.dry_run else "deleted:")
    for line in plan.lines():
        print("  " + line)
    return 0
