"""`python -m bot run`: every configured channel in one process."""

from __future__ import annotations

import sys

from bot.settings import Settings


async def run_channels(settings: Settings) -> int:
    if not settings.telegram_token:
        print(
            "error: no channel is configured: set BOT_TELEGRAM_TOKEN (see README), or use `python -m bot chat`",
            file=sys.stderr,
        )
        return 2
    print("error: the Telegram channel is not wired yet in this build", file=sys.stderr)
    return 2
