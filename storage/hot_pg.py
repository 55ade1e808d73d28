"""The per-message path on PostgreSQL (storage/hot.py describes the path; SQLiteHotPath is there): asyncpg on a
small pool of its own, a read and one checked transaction per message (PostgresHotPath), and the helpers that
write one simple query of literals (``_inline``, ``_contact_lock``, also used by storage/hot_submit.py)."""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url

from storage.hot import (
    _MAX_LOOKUPS,
    NEED_REQUESTS,
    Duplicate,
    Fallback,
    HotContact,
    Known,
    NeedNotices,
    Step,
    Writes,
    _decide,
    _dump,
    _load_state,
)
from storage.repo import CONTACT_LOCK_SQL

# Contacts whose last turn this process remembers (PostgresHotPath ``_seen``): a contact's entry is its row's
# three fields and its state's text, a few KB (the state is sealed JSON text); least recently used first out.
CACHED_CONTACTS = 2048


@dataclass(frozen=True, slots=True)
class _Seen:
    """What a contact's last turn in this process left: the contact row's fields the step reads and the
    conversation state's text, exactly as written (``created`` is False)."""

    contact: HotContact
    state: str


def _after(contact: HotContact, writes: Writes) -> HotContact:
    """The contact row once ``writes`` are applied (as ``_UPDATE_CONTACT`` / ``_GUARDED_CONTACT`` do)."""
    return HotContact(
        contact.id,
        contact.language if writes.language is None else writes.language,
        contact.consent_at if writes.consent_at is None else writes.consent_at,
        False if writes.reachable else contact.unreachable,
    )


class PostgresHotPath:
    """A small asyncpg pool of its own. A message of a contact whose last turn this process handled takes one
    round trip (``_from_seen``); otherwise two: a read outside any transaction, then one simple query
    ``BEGIN; lock; INSERT processed; guarded writes; COMMIT``.

    Why that is the same as handling the message under the contact's lock from the start (as the ORM path in
    flows/service.py and ``_locked`` here do):

    - The step is a pure function of what it read: the contact row (language, consent, reachability), the
      conversation row (state), and the look-ups it asked for (the contact's requests; no notice sent since).
    - The read gives each row's version, ``xmin``: the transaction that wrote that row version. An UPDATE, or
      a DELETE and a new row, leaves a row whose ``xmin`` is its writer's, so never the one read. (Nothing else
      changes ``xmin``; were VACUUM to freeze it meanwhile, a check would fail, never pass wrongly.)
    - The transaction takes the advisory lock (storage/repo.py ``lock_contact``) first: each statement after it
      sees what the previous message of this contact left, and no other locked turn runs until COMMIT. Then it
      checks every input: it inserts the message id (a unique violation: handled already, ``Duplicate``);
      it updates, or locks FOR UPDATE, the contact row and updates the conversation row only ``WHERE xmin`` is
      the one read; it inserts a row that was absent (the contact's unique (channel, user id) or the
      conversation's primary key fails if another turn created it); it evaluates each look-up again and
      compares. A check that finds a change divides by its zero count: the statement raises, COMMIT never
      runs. The rows checked stay locked (UPDATE / FOR UPDATE) until COMMIT; the look-ups' rows are not
      locked, as on the locked path.
    - So at COMMIT every input is what the step saw, under the lock: the result is the one the locked path
      would compute at that moment. When a check fails: ROLLBACK, and the message is handled again the locked
      way (``_locked``, three round trips), which sees the change.
    - ``Fallback`` and ``Duplicate`` are raised before the transaction, or after its ROLLBACK: nothing is
      written. A new contact's id is taken from the table's sequence by the read, so the step can name it
      (audit rows); a turn that does not insert it leaves a gap in the ids, nothing else.

    One round trip, from what this process saw last: after each turn it commits, the path keeps the contact's
    fields the step reads (language, consent, reachability) and the state's text as written, for the last
    ``cached_contacts`` contacts (least recently used out first; CACHED_CONTACTS). The next message of such a
    contact skips the read: the step runs on those values, and the same transaction checks them instead of
    ``xmin``: the contact row is updated, or locked FOR UPDATE, only ``WHERE`` its three fields are the ones
    used, and the conversation row updated only ``WHERE state::text`` is exactly the text used (``json`` keeps
    its text as given, so that is the text written). Under the lock, those are all the step's inputs but the
    look-ups (checked as above), so the reasoning above holds with "the values read" for "the version read":
    a value equal to the one used gives the same step, whoever wrote it. A write by anyone else (another
    worker, the ORM path, staff) that changed an input fails a check: ROLLBACK, the entry is dropped, and
    the message is handled again the two-round-trip way, then the locked way. The message id is not looked
    up first: its INSERT comes before any write, and a unique violation is ``Duplicate`` as above. So the
    memory only decides how many round trips a message takes, never what is written; a ``Fallback`` the
    step gives from stale values sends the message to the full path, which reads everything under the lock.
    A contact whose turn raised (``Fallback``, ``Duplicate``, an error) is forgotten, as is one whose request
    storage/hot_submit.py submits (``forget``); anything else that writes the contact is left to the checks.

    The pool returns a connection without a reset query (``_keep_session``). Statements of one simple query
    are written with literals by ``_inline`` (asyncpg binds parameters to one statement only): strings as hex,
    so no value can end a literal. Each round trip costs about as much CPU as the rest of the message's SQL
    (bench/channel_load.py)."""

    # Round trip 1, outside a transaction; one row even when the contact is new.
    _READ = (
        "SELECT EXISTS (SELECT 1 FROM processed_message WHERE channel = $1 AND message_id = $2), "
        "contact.id, contact.language, contact.consent_at, contact.unreachable, contact.xmin::text, "
        "conversation.state::text, conversation.xmin::text, "
        "CASE WHEN contact.id IS NULL THEN nextval(pg_get_serial_sequence('contact', 'id')) END "
        "FROM (SELECT 1) AS one "
        "LEFT OUTER JOIN contact ON contact.channel = $1 AND contact.channel_user_id = $3 "
        "LEFT OUTER JOIN conversation ON conversation.contact_id = contact.id"
    )
    _PROCESSED = "INSERT INTO processed_message (channel, message_id, at) VALUES ($1, $2, $3)"
    _INSERT_CONTACT = (
        "INSERT INTO contact (id, channel, channel_user_id, language, created_at, unreachable) "
        "VALUES ($1, $2, $3, $4, $5, false)"
    )
    # A check: the statement raises (division by zero) unless its CTE found exactly the row as it was read.
    _GUARDED_CONTACT = (
        "WITH checked AS (UPDATE contact SET consent_at = coalesce($1, consent_at), "
        "language = coalesce($2, language), unreachable = CASE WHEN $3 THEN false ELSE unreachable END "
        "WHERE id = $4 AND xmin = $5::xid RETURNING 1) SELECT 1 / count(*) FROM checked"
    )
    _LOCKED_CONTACT = (
        "WITH checked AS (SELECT 1 FROM contact WHERE id = $1 AND xmin = $2::xid FOR UPDATE) "
        "SELECT 1 / count(*) FROM checked"
    )
    _GUARDED_STATE = (
        "WITH checked AS (UPDATE conversation SET state = $1::json, updated_at = $2 "
        "WHERE contact_id = $3 AND xmin = $4::xid RETURNING 1) SELECT 1 / count(*) FROM checked"
    )
    _SAME_REQUESTS = (
        "SELECT 1 / (coalesce((SELECT string_agg(id::text || ':' || xmin::text, ',' ORDER BY id) "
        "FROM support_request WHERE contact_id = $1), '') = $2)::int"
    )
    _STILL_NO_NOTICE = (
        "SELECT 1 / (NOT EXISTS (SELECT 1 FROM outbox_message WHERE contact_id = $1 AND state = 'sent' "
        "AND id > $2 AND ($3::timestamptz IS NULL OR sent_at >= $3)))::int"
    )

    # The locked way: BEGIN with the lock, then the duplicate check and the read, then the writes and COMMIT.
    _LOCKED_READ = (
        "WITH fresh AS (INSERT INTO processed_message (channel, message_id, at) VALUES ($1, $2, $3) "
        "ON CONFLICT (channel, message_id) DO NOTHING RETURNING 1), "
        "found AS (SELECT id, language, consent_at, unreachable FROM contact "
        "WHERE channel = $1 AND channel_user_id = $4 FOR UPDATE) "
        "SELECT (SELECT count(*) FROM fresh), found.id, found.language, found.consent_at, found.unreachable, "
        "(SELECT state::text FROM conversation WHERE contact_id = found.id) "
        "FROM (SELECT 1) AS one LEFT OUTER JOIN found ON true"
    )
    _NEW_CONTACT = (
        "INSERT INTO contact (channel, channel_user_id, language, created_at, unreachable) "
        "VALUES ($1, $2, $3, $4, false) RETURNING id"
    )
    _REQUESTS = (
        "SELECT reference, status, submitted_at, due_at, id, xmin::text FROM support_request "
        "WHERE contact_id = $1 ORDER BY submitted_at DESC"
    )
    _NOTICE = (
        "SELECT 1 FROM outbox_message WHERE contact_id = $1 AND state = 'sent' AND id > $2 "
        "AND ($3::timestamptz IS NULL OR sent_at >= $3) LIMIT 1"
    )
    _STATE = "UPDATE conversation SET state = $1::json, updated_at = $2 WHERE contact_id = $3"
    _NEW_STATE = "INSERT INTO conversation (contact_id, state, updated_at) VALUES ($1, $2::json, $3)"
    _UPDATE_CONTACT = (
        "UPDATE contact SET consent_at = coalesce($1, consent_at), language = coalesce($2, language), "
        "unreachable = CASE WHEN $3 THEN false ELSE unreachable END WHERE id = $4"
    )
    _AUDIT = "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5::json)"

    # The way from what this process saw last (``_seen``): the same transaction, but the checks compare the
    # values the step read (the contact's fields, the state's text) instead of row versions.
    _SAME_CONTACT_UPDATE = (
        "WITH checked AS (UPDATE contact SET consent_at = coalesce($1, consent_at), "
        "language = coalesce($2, language), unreachable = CASE WHEN $3 THEN false ELSE unreachable END "
        "WHERE id = $4 AND language = $5 AND consent_at IS NOT DISTINCT FROM $6 AND unreachable = $7 "
        "RETURNING 1) SELECT 1 / count(*) FROM checked"
    )
    _SAME_CONTACT = (
        "WITH checked AS (SELECT 1 FROM contact WHERE id = $1 AND language = $2 "
        "AND consent_at IS NOT DISTINCT FROM $3 AND unreachable = $4 FOR UPDATE) "
        "SELECT 1 / count(*) FROM checked"
    )
    _SAME_STATE = (
        "WITH checked AS (UPDATE conversation SET state = $1::json, updated_at = $2 "
        "WHERE contact_id = $3 AND state::text = $4 RETURNING 1) SELECT 1 / count(*) FROM checked"
    )

    def __init__(self, url: str, max_size: int = 10, cached_contacts: int = CACHED_CONTACTS) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.max_size = max_size
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self.cached_contacts = cached_contacts
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()

    async def _get_pool(self) -> Any:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    import asyncpg

                    self._pool = await asyncpg.create_pool(
                        self.dsn, min_size=1, max_size=self.max_size, reset=_keep_session
                    )
        return self._pool

    async def turn(
        self, channel: str, user_id: str, message_id: str, now: datetime, step: Step, language: str
    ) -> None:
        """As SQLiteHotPath.turn."""
        pool = await self._get_pool()
        key = (channel, user_id)
        # Taken out for the turn: a concurrent turn of the contact reads, and an error forgets it.
        seen = self._seen.pop(key, None)
        async with pool.acquire() as connection:
            after = None
            if seen is not None:
                after = await self._from_seen(connection, seen, channel, user_id, message_id, now, step)
            if after is None:
                after = await self._checked(connection, channel, user_id, message_id, now, step, language)
            if after is None:
                after = await self._locked(connection, channel, user_id, message_id, now, step, language)
        self._seen[key] = after
        self._seen.move_to_end(key)
        while len(self._seen) > self.cached_contacts:
            self._seen.popitem(last=False)

    def forget(self, channel: str, user_id: str) -> None:
        """The contact's last turn is no longer what this process remembers (another path wrote it). Only
        spares a transaction: a turn from a stale memory fails its checks and reads, it never writes."""
        self._seen.pop((channel, user_id), None)

    async def _from_seen(
        self,
        connection: Any,
        seen: _Seen,
        channel: str,
        user_id: str,
        message_id: str,
        now: datetime,
        step: Step,
    ) -> _Seen | None:
        """One round trip (or one per look-up, and one): the step runs on what this process's last turn of the
        contact left, and the transaction checks, under the lock, that the contact's fields and the state's
        text are still exactly those (class docstring). None: they changed; nothing written."""
        contact = seen.contact
        writes, checks = await self._outcome(connection, step, contact, _load_state(seen.state))
        lock = _contact_lock(channel, user_id)
        statements = ["BEGIN", lock, _inline(self._PROCESSED, channel, message_id, now)]
        was = (contact.language, contact.consent_at, contact.unreachable)
        if writes.touches_contact():
            values = (writes.consent_at, writes.language, writes.reachable, contact.id, *was)
            statements.append(_inline(self._SAME_CONTACT_UPDATE, *values))
        else:
            statements.append(_inline(self._SAME_CONTACT, contact.id, *was))
        state = _dump(writes.state)
        statements.append(_inline(self._SAME_STATE, state, now, contact.id, seen.state))
        return await self._finish(connection, statements, checks, contact, writes, state, now)

    async def _checked(
        self,
        connection: Any,
        channel: str,
        user_id: str,
        message_id: str,
        now: datetime,
        step: Step,
        language: str,
    ) -> _Seen | None:
        """The two round trips (class docstring). None: something changed since the read; nothing written."""
        row = await connection.fetchrow(self._READ, channel, message_id, user_id)
        if row[0]:
            raise Duplicate
        if row[1] is None:
            contact, raw = HotContact(row[8], language, None, False, created=True), None
        else:
            contact = HotContact(row[1], row[2], row[3], bool(row[4]))
            raw = None if row[6] is None else _load_state(row[6])
        writes, checks = await self._outcome(connection, step, contact, raw)
        lock = _contact_lock(channel, user_id)
        statements = ["BEGIN", lock, _inline(self._PROCESSED, channel, message_id, now)]
        if contact.created:
            statements.append(_inline(self._INSERT_CONTACT, contact.id, channel, user_id, language, now))
            if writes.touches_contact():
                statements.append(self._contact_update(contact, writes))
        elif writes.touches_contact():
            values = (writes.consent_at, writes.language, writes.reachable, contact.id, row[5])
            statements.append(_inline(self._GUARDED_CONTACT, *values))
        else:
            statements.append(_inline(self._LOCKED_CONTACT, contact.id, row[5]))
        state = _dump(writes.state)
        if row[7] is None:
            statements.append(_inline(self._NEW_STATE, contact.id, state, now))
        else:
            statements.append(_inline(self._GUARDED_STATE, state, now, contact.id, row[7]))
        return await self._finish(connection, statements, checks, contact, writes, state, now)

    async def _finish(
        self,
        connection: Any,
        statements: list[str],
        checks: list[str],
        contact: HotContact,
        writes: Writes,
        state: str,
        now: datetime,
    ) -> _Seen | None:
        """The checks, the audit rows and COMMIT after a turn's writes, sent as one query. None: a check
        failed, nothing written; else what this process now remembers of the contact."""
        statements += checks
        statements += self._audits(writes, now)
        statements.append("COMMIT")
        if not await self._commit(connection, statements):
            return None
        return _Seen(_after(contact, writes), state)

    async def _commit(self, connection: Any, statements: list[str]) -> bool:
        """The checked transaction as one simple query. False: a check failed, rolled back; Duplicate: the
        message id was recorded meanwhile."""
        import asyncpg

        try:
            await connection.execute("; ".join(statements))
        except (asyncpg.UniqueViolationError, asyncpg.DivisionByZeroError) as exc:
            await connection.execute("ROLLBACK")
            if isinstance(exc, asyncpg.UniqueViolationError) and exc.table_name == "processed_message":
                raise Duplicate from None
            return False
        except BaseException:
            await connection.execute("ROLLBACK")
            raise
        return True

    async def _locked(
        self,
        connection: Any,
        channel: str,
        user_id: str,
        message_id: str,
        now: datetime,
        step: Step,
        language: str,
    ) -> _Seen:
        """Three round trips: BEGIN with the lock; the duplicate check and the read (FOR UPDATE); the writes
        and COMMIT."""
        lock = _contact_lock(channel, user_id)
        await connection.execute(f"BEGIN; {lock}")
        try:
            row = await connection.fetchrow(self._LOCKED_READ, channel, message_id, now, user_id)
            if row[0] != 1:
                raise Duplicate
            if row[1] is None:
                new_id = await connection.fetchval(self._NEW_CONTACT, channel, user_id, language, now)
                contact, raw = HotContact(new_id, language, None, False, created=True), None
            else:
                contact = HotContact(row[1], row[2], row[3], bool(row[4]))
                raw = None if row[5] is None else _load_state(row[5])
            writes, _ = await self._outcome(connection, step, contact, raw)
            state = _dump(writes.state)
            if raw is None:
                statements = [_inline(self._NEW_STATE, contact.id, state, now)]
            else:
                statements = [_inline(self._STATE, state, now, contact.id)]
            if writes.touches_contact():
                statements.append(self._contact_update(contact, writes))
            statements += self._audits(writes, now)
            statements.append("COMMIT")
            await connection.execute("; ".join(statements))
        except BaseException:
            await connection.execute("ROLLBACK")
            raise
        return _Seen(_after(contact, writes), state)

    async def _outcome(
        self, connection: Any, step: Step, contact: HotContact, raw: dict | None
    ) -> tuple[Writes, list[str]]:
        """The step's writes, after the look-ups it asks for (Fallback if none), with a check statement per
        look-up that raises if its answer changed since."""
        known, checks = Known(), []
        outcome = _decide(step, contact, raw, known)
        for _ in range(_MAX_LOOKUPS):
            if outcome == NEED_REQUESTS and known.requests is None:
                rows = await connection.fetch(self._REQUESTS, contact.id)
                known = Known(tuple(tuple(r[:4]) for r in rows), known.notices_checked)  # type: ignore[misc]
                versions = ",".join(f"{r[4]}:{r[5]}" for r in sorted(rows, key=lambda r: r[4]))
                checks.append(_inline(self._SAME_REQUESTS, contact.id, versions))
            elif isinstance(outcome, NeedNotices) and not known.notices_checked:
                if await connection.fetchval(self._NOTICE, contact.id, outcome.after_id, outcome.since):
                    raise Fallback
                known = Known(known.requests, True)
                checks.append(_inline(self._STILL_NO_NOTICE, contact.id, outcome.after_id, outcome.since))
            else:
                break
            outcome = _decide(step, contact, raw, known)
        if not isinstance(outcome, Writes):
            raise Fallback
        return outcome, checks

    def _contact_update(self, contact: HotContact, writes: Writes) -> str:
        return _inline(self._UPDATE_CONTACT, writes.consent_at, writes.language, writes.reachable, contact.id)

    def _audits(self, writes: Writes, now: datetime) -> list[str]:
        return [
            _inline(self._AUDIT, now, actor, action, subject, _dump(detail))
            for actor, action, subject, detail in writes.audits
        ]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _keep_session(connection: Any) -> None:
    """A connection back to the pool without asyncpg's reset query (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``, a round trip per message): PostgresHotPath sets nothing on the session (no SET,
    LISTEN, cursor, or session advisory lock: the contact's lock ends with its transaction), and the pool
    still rolls back a transaction left open (an interrupted turn) before it calls this."""


def _text_literal(value: str) -> str:
    # Hex digits only between the quotes, whatever the text holds.
    return f"convert_from(decode('{value.encode().hex()}', 'hex'), 'UTF8')"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return _text_literal(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return f"'{value.isoformat()}'::timestamptz"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


_PARAMETER = re.compile(r"\$(\d+)")


def _inline(statement: str, *values: object) -> str:
    """``statement`` with its $n parameters replaced by ``values`` as literals (PostgresHotPath)."""
    return _PARAMETER.sub(lambda match: _literal(values[int(match.group(1)) - 1]), statement)


def _contact_lock(channel: str, user_id: str) -> str:
    """The contact's advisory lock (storage/repo.py ``lock_contact``) as one statement of literals."""
    return CONTACT_LOCK_SQL.format(channel=_text_literal(channel), user_id=_text_literal(user_id))
