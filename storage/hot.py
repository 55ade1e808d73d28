"""The per-message path on the raw driver connection: the duplicate check, the contact and its conversation
state, and what the message changes, in one transaction and without the ORM session.

Most messages a beneficiary sends (a form answer, a menu choice, a question, their first /start, the consent)
only move their conversation state, perhaps with a small write beside it. For those, SQLAlchemy's session and
its async bridge cost several times the SQL itself, so the service runs them here: on SQLite with the standard
library's sqlite3 (inline, like storage/db.py), on PostgreSQL with asyncpg (storage/hot_pg.py PostgresHotPath).

The service gives a *step* (flows/quick_turn.py): given the contact, its stored state and what was looked up
so far (``Known``), it returns the writes (``Writes``), asks for one more look-up (``NEED_REQUESTS``: the
contact's requests; ``NeedNotices``: whether a notification was sent since), or returns None: "take the full
path". Then nothing is written here and the ORM path handles the message again: the step is a pure function,
so running it twice gives the same result. Writes are limited to what a turn without staff-facing effects makes: the state, a new
contact, its consent time, language or reachability, and audit rows.

Values are written exactly as the ORM writes them (UTC text on SQLite, timestamptz on PostgreSQL, JSON text;
sealed by the same keyring as storage.crypto.EncryptedJSON), so either path reads what the other wrote.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Union

from storage.crypto import active

if TYPE_CHECKING:
    from storage.hot_pg import PostgresHotPath


@dataclass(frozen=True, slots=True)
class HotContact:
    id: int
    language: str
    consent_at: datetime | None
    unreachable: bool
    created: bool = False  # by this message: its first


RequestRow = tuple[str, str, datetime, datetime]  # reference, status, submitted_at, due_at (newest first)


@dataclass(frozen=True, slots=True)
class Known:
    """What was looked up for the step, beyond the contact and its state."""

    requests: tuple[RequestRow, ...] | None = None  # None: not loaded
    notices_checked: bool = False  # no notification was sent since (NeedNotices)


@dataclass(frozen=True, slots=True)
class NeedNotices:
    """Was a notification sent to the contact after outbox row ``after_id`` and not before ``since``? If so
    the full path takes the message (its options are what typed text refers to)."""

    after_id: int
    since: datetime | None


NEED_REQUESTS = "requests"


@dataclass(slots=True)
class Writes:
    state: dict
    consent_at: datetime | None = None
    language: str | None = None
    reachable: bool = False  # the contact was marked unreachable and wrote to us
    audits: list[tuple[str, str, str, dict]] = field(default_factory=list)  # actor, action, subject, detail

    def touches_contact(self) -> bool:
        return self.consent_at is not None or self.language is not None or self.reachable


Outcome = Writes | NeedNotices | str | None
Step = Callable[[HotContact, dict | None, Known], Outcome]
_MAX_LOOKUPS = 2  # each kind once


def _load_state(text: str) -> dict:
    return active().open_json(json.loads(text))


def _dump(value: dict) -> str:
    # As storage.crypto.EncryptedJSON stores it: one sealed JSON string.
    return json.dumps(active().seal_json(value))


class Fallback(Exception):
    """This message needs the full (ORM) path; nothing was written."""


class Duplicate(Exception):
    """This message id was handled before."""


def _sqlite_time(moment: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text, after UTCDateTime made the value naive UTC.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _from_sqlite_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _decide(step: Step, contact: HotContact, raw: dict | None, known: Known) -> Outcome:
    outcome = step(contact, raw, known)
    if outcome is None:
        raise Fallback
    return outcome


class SQLiteHotPath:
    """One sqlite3 connection of its own, used inline on the event loop under the database's write lock (the
    same lock the ORM path takes), so its transactions never interleave with the ORM's in this process."""

    _CONTACT = (
        "SELECT contact.id, contact.language, contact.consent_at, contact.unreachable, conversation.state "
        "FROM contact LEFT OUTER JOIN conversation ON conversation.contact_id = contact.id "
        "WHERE contact.channel = ? AND contact.channel_user_id = ?"
    )
    _NEW_CONTACT = "INSERT INTO contact (channel, channel_user_id, language, created_at, unreachable) VALUES (?, ?, ?, ?, 0)"
    _PROCESSED = "INSERT OR IGNORE INTO processed_message (channel, message_id, at) VALUES (?, ?, ?)"
    _REQUESTS = (
        "SELECT reference, status, submitted_at, due_at FROM support_request WHERE contact_id = ? "
        "ORDER BY submitted_at DESC"
    )
    _NOTICE = (
        "SELECT 1 FROM outbox_message WHERE contact_id = ? AND state = 'sent' AND id > ? "
        "AND (? IS NULL OR sent_at >= ?) LIMIT 1"
    )
    _STATE = "UPDATE conversation SET state = ?, updated_at = ? WHERE contact_id = ?"
    _NEW_STATE = "INSERT INTO conversation (contact_id, state, updated_at) VALUES (?, ?, ?)"
    _UPDATE_CONTACT = (
        "UPDATE contact SET consent_at = coalesce(?, consent_at), language = coalesce(?, language), "
        "unreachable = CASE WHEN ? THEN 0 ELSE unreachable END WHERE id = ?"
    )
    _AUDIT = "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)"

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

    async def turn(
        self, channel: str, user_id: str, message_id: str, now: datetime, step: Step, language: str
    ) -> None:
        """Handle one message with ``step``; ``language`` is a new contact's. Raises Duplicate or Fallback
        (nothing written) when the message is not for this path."""
        async with self.write_lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._turn(connection, channel, user_id, message_id, now, step, language)
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
        language: str,
    ) -> None:
        stamp = _sqlite_time(now)
        if connection.execute(self._PROCESSED, (channel, message_id, stamp)).rowcount != 1:
            raise Duplicate
        row = connection.execute(self._CONTACT, (channel, user_id)).fetchone()
        if row is None:
            new_id = connection.execute(self._NEW_CONTACT, (channel, user_id, language, stamp)).lastrowid
            contact, raw = HotContact(new_id, language, None, False, created=True), None  # type: ignore[arg-type]
        else:
            contact = HotContact(row[0], row[1], _from_sqlite_time(row[2]), bool(row[3]))
            raw = None if row[4] is None else _load_state(row[4])
        known = Known()
        outcome = _decide(step, contact, raw, known)
        for _ in range(_MAX_LOOKUPS):
            if outcome == NEED_REQUESTS and known.requests is None:
                rows = connection.execute(self._REQUESTS, (contact.id,)).fetchall()
                requests = tuple((r[0], r[1], _from_sqlite_time(r[2]), _from_sqlite_time(r[3])) for r in rows)
                known = Known(requests, known.notices_checked)  # type: ignore[arg-type]
            elif isinstance(outcome, NeedNotices) and not known.notices_checked:
                since = None if outcome.since is None else _sqlite_time(outcome.since)
                found = connection.execute(self._NOTICE, (contact.id, outcome.after_id, since, since))
                if found.fetchone() is not None:
                    raise Fallback
                known = Known(known.requests, True)
            else:
                break
            outcome = _decide(step, contact, raw, known)
        if not isinstance(outcome, Writes):
            raise Fallback
        self._write(connection, contact, raw is None, outcome, stamp)

    def _write(
        self, connection: sqlite3.Connection, contact: HotContact, new: bool, writes: Writes, stamp: str
    ) -> None:
        state = _dump(writes.state)
        if new:
            connection.execute(self._NEW_STATE, (contact.id, state, stamp))
        else:
            connection.execute(self._STATE, (state, stamp, contact.id))
        if writes.touches_contact():
            consent = None if writes.consent_at is None else _sqlite_time(writes.consent_at)
            connection.execute(self._UPDATE_CONTACT, (consent, writes.language, writes.reachable, contact.id))
        for actor, action, subject, detail in writes.audits:
            connection.execute(self._AUDIT, (stamp, actor, action, subject, _dump(detail)))

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


HotPath = Union[SQLiteHotPath, "PostgresHotPath"]  # noqa: UP007 (the PostgreSQL one is in storage/hot_pg.py)
