"""A new support request on the raw driver connection (storage/hot.py's connections, not the ORM session).

The press that submits a request (flows/form_review.py ``SUBMITTING_OPTIONS``) is the costliest message of a
journey on the full path: a dozen statements through the ORM session and, on PostgreSQL, as many round trips.
Here it is one transaction: the duplicate check, the contact and its state, the reference counter and the
request's id; then the service's step (flows/quick_submit.py) says what to write, and everything is written:
the request (sealed data, national ID index), its attachments, first status and audit row, the conversation
state and the staff queue's rows its recorders give. On SQLite with sqlite3 inline under the database's write
lock (as SQLiteHotPath); on PostgreSQL in three round trips: BEGIN with the contact's lock, the read (which
also counts the reference and takes the request's id from its sequence), and the writes with COMMIT as one
simple query of literals (storage/hot_pg.py ``_inline``).

A step that returns None, or a ``finish`` that does, means "take the full path": the transaction is rolled
back (nothing written; on PostgreSQL the sequence value is not given back, a gap as after any rollback) and
``Fallback`` is raised, as on the per-message path. Values are written exactly as the ORM writes them (the
column types decide what is sealed), so either path reads what the other wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from storage.crypto import EncryptedJSON, EncryptedText, active
from storage.hot import (
    Duplicate,
    Fallback,
    HotContact,
    HotPath,
    SQLiteHotPath,
    _dump,
    _from_sqlite_time,
    _load_state,
    _sqlite_time,
)
from storage.hot_pg import _contact_lock, _inline
from storage.models import Attachment, AuditLog, RequestStatusChange, SupportRequest, national_id_index
from storage.repo import first_status, reference_of
from storage.staff_queue import StaffPost


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a new request writes, given its id and reference."""

    request: (
        dict  # support_request's columns but id and national_id_index (flows/request_store.py new_request)
    )
    attachments: list[dict]  # attachment rows but request_id
    audits: list[tuple[str, str, str, dict]]  # actor, action, subject, detail
    state: dict  # the conversation state after the turn
    posts: list[dict]  # staff_post rows (storage/staff_queue.py post_values)


@dataclass(frozen=True, slots=True)
class Submit:
    """The step's answer: a new request; ``finish`` gives its rows once its id and reference are known, or
    None (the full path)."""

    finish: Callable[[int, str], Submitted | None]


SubmitStep = Callable[[HotContact, dict], Submit | None]

_COUNTER = (
    "INSERT INTO reference_counter (year, last) VALUES ({year}, 1) "
    "ON CONFLICT (year) DO UPDATE SET last = reference_counter.last + 1 RETURNING last"
)
_STATE_SQLITE = "UPDATE conversation SET state = ?, updated_at = ? WHERE contact_id = ?"
_STATE_PG = "UPDATE conversation SET state = $1::json, updated_at = $2 WHERE contact_id = $3"
_REACHABLE = "UPDATE contact SET unreachable = {false} WHERE id = {id}"


async def submit(
    hot: HotPath,
    channel: str,
    user_id: str,
    message_id: str,
    now: datetime,
    year: int,
    step: SubmitStep,
) -> None:
    """One submitting message with ``step`` (``year``: of the reference). Raises Duplicate, or Fallback with
    nothing written."""
    if isinstance(hot, SQLiteHotPath):
        async with hot.write_lock:
            connection = hot._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                _sqlite_submit(connection, channel, user_id, message_id, now, year, step)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return
    hot.forget(channel, user_id)  # its state changes here
    pool = await hot._get_pool()
    async with pool.acquire() as connection:
        lock = _contact_lock(channel, user_id)
        await connection.execute(f"BEGIN; {lock}")
        try:
            await _postgres_submit(connection, channel, user_id, message_id, now, year, step)
        except BaseException:
            await connection.execute("ROLLBACK")
            raise


def _rows(request_id: int, done: Submitted, now: datetime) -> Iterator[tuple[Table, dict]]:
    """The inserts, in the full path's order."""
    request = {**done.request, "id": request_id, "national_id_index": national_id_index(done.request["data"])}
    yield SupportRequest.__table__, request  # type: ignore[attr-defined]
    for attachment in done.attachments:
        yield Attachment.__table__, {**attachment, "request_id": request_id}  # type: ignore[attr-defined]
    yield RequestStatusChange.__table__, first_status(request_id, request)  # type: ignore[attr-defined]
    for actor, action, subject, detail in done.audits:
        audit = {"at": now, "actor": actor, "action": action, "subject": subject, "detail": detail}
        yield AuditLog.__table__, audit  # type: ignore[attr-defined]
    for post in done.posts:
        yield StaffPost.__table__, post  # type: ignore[attr-defined]


def _bound(table: Table, name: str, value: Any) -> Any:
    """A value as its column's type stores it (sealed where the ORM seals it)."""
    if value is None:
        return None
    kind = table.c[name].type
    if isinstance(kind, EncryptedJSON):
        return _dump(value)
    if isinstance(kind, EncryptedText):
        return active().seal_text(str(value))
    return value


_SQL: dict[tuple[str, str, tuple[str, ...]], str] = {}


def _insert_sql(dialect: str, table: Table, names: tuple[str, ...]) -> str:
    key = (dialect, table.name, names)
    sql = _SQL.get(key)
    if sql is None:
        if dialect == "sqlite":
            marks = ", ".join("?" for _ in names)
        else:
            casts = ["::json" if isinstance(table.c[n].type, EncryptedJSON) else "" for n in names]
            marks = ", ".join(f"${i}{cast}" for i, cast in enumerate(casts, 1))
        sql = _SQL[key] = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
    return sql


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_time(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_submit(
    connection: sqlite3.Connection,
    channel: str,
    user_id: str,
    message_id: str,
    now: datetime,
    year: int,
    step: SubmitStep,
) -> None:
    stamp = _sqlite_time(now)
    if connection.execute(SQLiteHotPath._PROCESSED, (channel, message_id, stamp)).rowcount != 1:
        raise Duplicate
    row = connection.execute(SQLiteHotPath._CONTACT, (channel, user_id)).fetchone()
    if row is None or row[4] is None:
        raise Fallback  # a submission comes from a contact in a conversation
    contact = HotContact(row[0], row[1], _from_sqlite_time(row[2]), bool(row[3]))
    outcome = step(contact, _load_state(row[4]))
    if outcome is None:
        raise Fallback
    last = connection.execute(_COUNTER.format(year="?"), (year,)).fetchone()[0]
    # What an insert without an id takes (a table without AUTOINCREMENT; the write lock is held).
    request_id = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM support_request").fetchone()[0]
    done = outcome.finish(request_id, reference_of(year, last))
    if done is None:
        raise Fallback
    if contact.unreachable:  # they wrote to us, so they can be reached again
        connection.execute(_REACHABLE.format(false=0, id="?"), (contact.id,))
    for table, values in _rows(request_id, done, now):
        names = tuple(values)
        bound = [_sqlite_value(_bound(table, name, values[name])) for name in names]
        connection.execute(_insert_sql("sqlite", table, names), bound)
    connection.execute(_STATE_SQLITE, (_dump(done.state), stamp, contact.id))


# The duplicate check, the contact and its state, the reference counter and the request's id in one round
# trip; one row even when the contact is unknown. The id is taken only for a new message of a known contact.
_PG_READ = (
    "WITH fresh AS (INSERT INTO processed_message (channel, message_id, at) VALUES ($1, $2, $3) "
    "ON CONFLICT (channel, message_id) DO NOTHING RETURNING 1), "
    "found AS (SELECT id, language, consent_at, unreachable FROM contact "
    "WHERE channel = $1 AND channel_user_id = $4 FOR UPDATE), "
    f"counter AS ({_COUNTER.format(year='$5')}) "
    "SELECT (SELECT count(*) FROM fresh), found.id, found.language, found.consent_at, found.unreachable, "
    "(SELECT state::text FROM conversation WHERE contact_id = found.id), (SELECT last FROM counter), "
    "CASE WHEN found.id IS NOT NULL AND (SELECT count(*) FROM fresh) = 1 "
    "THEN nextval(pg_get_serial_sequence('support_request', 'id')) END "
    "FROM (SELECT 1) AS one LEFT OUTER JOIN found ON true"
)


async def _postgres_submit(
    connection: Any,
    channel: str,
    user_id: str,
    message_id: str,
    now: datetime,
    year: int,
    step: SubmitStep,
) -> None:
    row = await connection.fetchrow(_PG_READ, channel, message_id, now, user_id, year)
    if row[0] != 1:
        raise Duplicate
    if row[1] is None or row[5] is None:
        raise Fallback
    contact = HotContact(row[1], row[2], row[3], bool(row[4]))
    outcome = step(contact, _load_state(row[5]))
    if outcome is None:
        raise Fallback
    request_id = row[7]
    done = outcome.finish(request_id, reference_of(year, row[6]))
    if done is None:
        raise Fallback
    statements = []
    if contact.unreachable:
        statements.append(_REACHABLE.format(false="false", id=int(contact.id)))
    for table, values in _rows(request_id, done, now):
        names = tuple(values)
        bound = [_bound(table, name, values[name]) for name in names]
        statements.append(_inline(_insert_sql("postgresql", table, names), *bound))
    statements.append(_inline(_STATE_PG, _dump(done.state), now, contact.id))
    statements.append("COMMIT")
    await connection.execute("; ".join(statements))
