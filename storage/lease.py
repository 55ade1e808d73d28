"""Leases for scheduled jobs that must run once however many workers tick them (the daily digest).

Each worker's scheduler fires at the same minute; the first to take the job's lease row runs it, the others
skip. The outbox needs none: its rows are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease of their own.

    if await take(db, "digest", holder, now, timedelta(hours=12)):
        await post_digest()
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel

from storage.db import Database
from storage.models import utc_column


class JobLease(SQLModel, table=True):
    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=60)
    holder: str = Field(max_length=100)  # host:pid of the worker: no personal data
    until: datetime = Field(sa_column=utc_column())


_TABLE = JobLease.__table__  # type: ignore[attr-defined]


async def take(db: Database, name: str, holder: str, now: datetime, hold: timedelta) -> bool:
    """True when this worker now holds the lease ``name`` until ``now + hold`` (it was free or had run out)."""
    insert = postgresql.insert if db.is_postgres else sqlite.insert
    statement = insert(_TABLE).values(name=name, holder=holder, until=now + hold)
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
        where=_TABLE.c.until <= bindparam("now"),
    )
    async with db.transaction() as session:
        result = await session.execute(statement, {"now": now})
        return result.rowcount == 1
