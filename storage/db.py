"""The database: one async engine per process, built by the bootstrap, never at import time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from storage.hot import HotPath, SQLiteHotPath
from storage.hot_pg import PostgresHotPath


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class Database:
    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Parameters are personal data (IDs, phones, names): keep them out of error messages and logs.
        kwargs: dict = {"echo": echo, "hide_parameters": True}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        if path is not None:
            kwargs.update(async_creator=partial(_inline_sqlite, str(path)), pool_reset_on_return=None)
        self.engine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time: queue writers here instead of failing with "database is locked".
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        # The per-message path without the ORM (storage/hot.py, storage/hot_pg.py); not for an in-memory database.
        self.hot: HotPath | None = None
        if path is not None and self._write_lock is not None:
            self.hot = SQLiteHotPath(path, self._write_lock)
        elif self.dialect == "postgresql":
            self.hot = PostgresHotPath(url)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed on success, rolled back on any error."""
        if self._write_lock is not None:
            async with self._write_lock:
                async with self._sessions() as session, session.begin():
                    yield session
        else:
            async with self._sessions() as session, session.begin():
                yield session

    async def dispose(self) -> None:
        if self.hot is not None:
            await self.hot.close()
        await self.engine.dispose()


class InlineSQLiteConnection(aiosqlite.Connection):
    """aiosqlite's interface, but each call runs on the event-loop thread instead of hopping to a worker thread.

    In WAL mode with synchronous=NORMAL a statement or a commit takes microseconds, while each hop to
    aiosqlite's thread costs about 0.1 ms and SQLAlchemy makes three or four hops per statement: running
    inline is what lets one SQLite file serve hundreds of messages a second. Only for file databases that
    this process mostly owns (the default); several workers use PostgreSQL.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)

    async def _execute(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineSQLiteConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def _inline_sqlite(path: str) -> InlineSQLiteConnection:
    return await InlineSQLiteConnection(partial(sqlite3.connect, path, check_same_thread=False))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Inline calls block the loop while another process holds the write lock: keep the wait short.
    cursor.execute("PRAGMA busy_timeout=2000")
    cursor.close()
