"""The per-message path on the raw driver connection: the duplicate check, the contact and its conversation
state, and the new state, in one transaction and without the ORM session.

Most messages a beneficiary sends (a form answer, a menu choice, a question) only move their conversation
state. For those, SQLAlchemy's session and its async bridge cost several times the SQL itself, so the service
runs them here: on SQLite with the standard library's sqlite3 (inline, like storage/db.py), on PostgreSQL with
asyncpg and a statement per round trip. A message whose step has events (a submission, consent, a handoff…),
asks for the contact's requests, or comes from a new contact is rolled back here and handled by the ORM path,
which records it again: the step is a pure function, so running it twice gives the same result.

Values are written exactly as the ORM writes them (UTC text on SQLite, timestamptz on PostgreSQL, JSON text;
the state sealed by the same keyring as storage.crypto.EncryptedJSON), so either path reads what the other wrote.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from storage.crypto import active


@dataclass(frozen=True, slots=True)
class HotContact:
    id: int
    language: str
    consent_at: datetime | None
    unreachable: bool


# Given the contact and its stored state, the new state to store, or None: "take the full path".
Step = Callable[[HotContact, dict], dict | None]


def _load_state(text: str) -> dict:
    return active().open_json(json.loads(text))


def _dump_state(state: dict) -> str:
    # As storage.crypto.EncryptedJSON stores it: one sealed JSON string.
    return json.dumps(active().seal_json(state))


class Fallback(Exception):
    """This message needs the full (ORM) path; nothing was written."""


class Duplicate(Exception):
    """This message id was handled before."""


def _sqlite_time(moment: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text, after UTCDateTime made the value naive UTC.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _from_sqlite_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


class SQLiteHotPath:
    """One sqlite3 connection of its own, used inline on the event loop under the database's write lock (the
    same lock the ORM path takes), so its transactions never interleave with the ORM's in this process."""

    _CONTACT = (
        "SELECT contact.id, contact.language, contact.consent_at, contact.unreachable, conversation.state "
        "FROM contact LEFT OUTER JOIN conversation ON conversation.contact_id = contact.id "
        "WHERE contact.channel = ? AND contact.channel_user_id = ?"
    )
    _PROCESSED = "INSERT OR IGNORE INTO processed_message (channel, message_id, at) VALUES (?, ?, ?)"
    _STATE = "UPDATE conversation SET state = ?, updated_at = ? WHERE contact_id = ?"

    def __init__(self, path: Path, write_lock: asyncio.Lock) -> None:
        self.path = path
        self.write_lock = write_lock
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA busy_timeout=2000")
            self._connection = connection
        return self._connection

    async def turn(self, channel: str, user_id: str, message_id: str, now: datetime, step: Step) -> None:
        async with self.write_lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._turn(connection, channel, user_id, message_id, now, step)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _turn(
        self,
        connection: sqlite3.Connection,
        channel: str,
        user_id: str,
        message_id: str,
        now: datetime,
        step: Step,
    ) -> None:
        stamp = _sqlite_time(now)
        if connection.execute(self._PROCESSED, (channel, message_id, stamp)).rowcount != 1:
            raise Duplicate
        row = connection.execute(self._CONTACT, (channel, user_id)).fetchone()
        if row is None or row[4] is None or row[3]:
            raise Fallback
        contact = HotContact(row[0], row[1], _from_sqlite_time(row[2]), bool(row[3]))
        new_state = step(contact, _load_state(row[4]))
        if new_state is None:
            raise Fallback
        connection.execute(self._STATE, (_dump_state(new_state), stamp, contact.id))

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresHotPath:
    """A small asyncpg pool of its own. The contact's advisory lock (storage/repo.py ``lock_contact``) is taken
    in a statement of its own before the read, so one contact's messages are handled one at a time across
    workers, as on the ORM path, and the read sees the state the previous message left."""

    _LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 0))"  # = repo.CONTACT_LOCK_SQL

    # The duplicate check and the read in one round trip.
    _READ = (
        "WITH fresh AS (INSERT INTO processed_message (channel, message_id, at) VALUES ($1, $2, $3) "
        "ON CONFLICT (channel, message_id) DO NOTHING RETURNING 1) "
        "SELECT (SELECT count(*) FROM fresh) AS fresh, contact.id, contact.language, contact.consent_at, "
        "contact.unreachable, conversation.state::text "
        "FROM contact LEFT OUTER JOIN conversation ON conversation.contact_id = contact.id "
        "WHERE contact.channel = $1 AND contact.channel_user_id = $4 FOR UPDATE OF contact"
    )
    _STATE = "UPDATE conversation SET state = $1::json, updated_at = $2 WHERE contact_id = $3"

    def __init__(self, url: str, max_size: int = 10) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.max_size = max_size
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)
        return self._pool

    async def turn(self, channel: str, user_id: str, message_id: str, now: datetime, step: Step) -> None:
        pool = await self._get_pool()
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(self._LOCK, channel, user_id)
            row = await connection.fetchrow(self._READ, channel, message_id, now, user_id)
            if row is None:  # a new contact: the message id still counts once
                raise Fallback
            if row[0] != 1:
                raise Duplicate
            if row[5] is None or row[4]:
                raise Fallback
            contact = HotContact(row[1], row[2], row[3], bool(row[4]))
            new_state = step(contact, _load_state(row[5]))
            if new_state is None:
                raise Fallback
            await connection.execute(self._STATE, _dump_state(new_state), now, contact.id)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


HotPath = SQLiteHotPath | PostgresHotPath
