"""Migrations on start: alembic runs when there is something to do, and is not even imported when an SQLite
file is already at the newest revision (a warm `python -m bot chat` starts about half a second sooner)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from storage.migrate import heads, shipped_heads, upgrade

ROOT = Path(__file__).resolve().parent.parent


def _versions(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}


def test_the_heads_read_from_the_files_are_alembics():
    assert shipped_heads() == heads()


def test_a_file_behind_the_newest_revision_is_still_upgraded(tmp_path: Path):
    path = tmp_path / "bot.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0013_form_cards")
    assert _versions(path) == {"0013_form_cards"}
    upgrade(url)
    assert _versions(path) == heads()


def test_a_start_on_a_migrated_file_does_not_import_alembic(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    check = (
        f"import sys; from storage.migrate import upgrade; upgrade({url!r}); print('alembic' in sys.modules)"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert run() == "True"  # a new file: migrated by alembic
    assert run() == "False"  # at the newest revision: nothing to do, nothing imported
    assert _versions(tmp_path / "bot.db") == heads()
