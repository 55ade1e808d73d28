"""Claiming rows of a work queue (the outbox, the staff queue) so that several workers never take the same row.

On PostgreSQL the due rows are picked with ``FOR UPDATE SKIP LOCKED`` and marked in the same transaction; on
SQLite one ``UPDATE … WHERE id IN (SELECT …)`` runs under the database's write lock, which is atomic against
other processes on the same file too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, update

from storage.db import Database


async def claim_rows(db: Database, table: Table, due_ids: Any, values: dict[str, Any]) -> list[Any]:
    """Mark the rows whose ids ``due_ids`` (a SELECT of ``table.c.id``, ordered and limited) picks with
    ``values`` and return them (as rows of every column), committed."""
    async with db.transaction() as session:
        connection = await session.connection()
        if db.is_postgres:
            picked = due_ids.with_for_update(skip_locked=True, of=table)
            ids = list((await connection.execute(picked)).scalars())
            if not ids:
                return []
            statement = update(table).where(table.c.id.in_(ids))
        else:
            statement = update(table).where(table.c.id.in_(due_ids.scalar_subquery()))
        return list((await connection.execute(statement.values(**values).returning(*table.columns))).all())
