"""Progress bars for the long commands a person waits for at a terminal: a cold FAQ index build, a batch of
questions, an export, a re-seal. tqdm on standard error when it is a terminal; nothing otherwise (a pipe, a cron
log, a test), so redirected output stays clean."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

Progress = Callable[[int, int], None]  # progress(done, total)


def terminal_progress(desc: str, unit: str, stream: TextIO | None = None) -> Progress | None:
    """A `progress(done, total)` that draws one bar on ``stream`` (standard error), or None when that is not a
    terminal. The bar appears on the first call and is cleared when done reaches total."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        return None
    from tqdm import tqdm

    bars: list[tqdm] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit=unit, desc=desc, file=stream, leave=False))
        bar = bars[0]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def each(items: list, progress: Progress | None, every: int = 100):  # type: ignore[no-untyped-def]
    """Iterate ``items``, telling ``progress`` every ``every`` items and at the end."""
    total = len(items)
    for done, item in enumerate(items, 1):
        yield item
        if progress is not None and (done % every == 0 or done == total):
            progress(done, total)


async def read_rows(session: Any, statement: Any, progress: Progress | None, passes: int = 1) -> list:
    """The ORM objects ``statement`` selects, read as a stream so that ``progress`` can follow them (opening
    sealed columns is what takes the time). ``passes``: the caller's work over the rows afterwards, in the
    same bar (its total is rows x passes)."""
    if progress is None:
        return list((await session.execute(statement)).scalars())
    from sqlalchemy import func, select

    total = (await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
    rows: list = []
    async for row in await session.stream_scalars(statement):
        rows.append(row)
        if len(rows) % 100 == 0:
            progress(len(rows), max(total, len(rows)) * passes)
    progress(len(rows), len(rows) * passes)
    return rows
