"""Alembic migrations, applied on start and by `python -m bot migrate`.

Alembic is imported only when there is something to do: a start on an SQLite file already at the newest
revision reads its version with sqlite3 and goes on (importing alembic costs about half a second, most of it
Mako loading Pygments for its error pages).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import text

from storage.db import Database, sqlite_file

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*(?:\"([^\"]*)\"|None)", re.MULTILINE)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    path = sqlite_file(url)
    if path is not None:
        if revision == "head" and _sqlite_versions(path) == shipped_heads():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def shipped_heads() -> set[str]:
    """The newest revision(s) of the migrations shipped with this code, read from the files' `revision` and
    `down_revision` lines (as `heads()`, without importing alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else parents).add(value)
    return revisions - parents


def _sqlite_versions(path: Path) -> set[str] | None:
    """The revisions recorded in an SQLite file (None: no file, or not migrated yet)."""
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.Error:
        return None


async def upgrade_async(url: str, revision: str = "head") -> None:
    # Alembic's async env runs its own event loop: give it a thread of its own.
    await asyncio.to_thread(upgrade, url, revision)


def heads() -> set[str]:
    """The newest revision(s) of the migrations shipped with this code."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return set(ScriptDirectory.from_config(config).get_heads())


async def is_current(db: Database, expected: set[str]) -> bool:
    """The database is at ``expected`` (``heads()``): reachable and migrated, neither behind nor ahead."""
    async with db.transaction() as session:
        rows = await session.execute(text("SELECT version_num FROM alembic_version"))
        return {row[0] for row in rows} == expected
