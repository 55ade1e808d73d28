"""The ticks: APScheduler only says "now"; what is due lives in our tables (the outbox, requests' due dates).

scheduler = build_scheduler(settings, worker, extra_jobs=[TickJob("retention", purge, CronTrigger(hour=3))])
scheduler.start()          # inside the running event loop
...
worker.stop()
scheduler.shutdown(wait=False)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.settings import Settings

OUTBOX_JOB_ID = "outbox"
SCHEDULER_LOGGER = "bot.scheduler"


class Tickable(Protocol):
    async def tick(self) -> int: ...


@dataclass(frozen=True)
class TickJob:
    id: str
    func: Callable[[], Awaitable[object]]
    trigger: BaseTrigger


def build_scheduler(
    settings: Settings, worker: Tickable, extra_jobs: Sequence[TickJob] = ()
) -> AsyncIOScheduler:
    """An AsyncIOScheduler (not started) that calls ``worker.tick`` every BOT_OUTBOX_TICK_SECONDS.

    One tick at a time (a long one drains a backlog; ticks missed meanwhile collapse into one), and a
    tick that is late by more than a few periods is skipped rather than run in a burst."""
    scheduler = AsyncIOScheduler(timezone=settings.timezone, logger=_scheduler_logger())
    period = settings.outbox_tick_seconds
    common = {"max_instances": 1, "coalesce": True, "replace_existing": True}
    scheduler.add_job(
        worker.tick,
        IntervalTrigger(seconds=period),
        id=OUTBOX_JOB_ID,
        misfire_grace_time=max(1, int(period * 5)),
        **common,
    )
    for job in extra_jobs:
        scheduler.add_job(job.func, job.trigger, id=job.id, misfire_grace_time=60, **common)
    return scheduler


class _SkipOverlapNotices(logging.Filter):
    """A tick that drains a backlog outlasts the period; APScheduler then warns at every skipped tick.
    That is the design (max_instances=1), not a problem worth a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('Execution of job "%s" skipped')


def _scheduler_logger() -> logging.Logger:
    logger = logging.getLogger(SCHEDULER_LOGGER)
    if not any(isinstance(f, _SkipOverlapNotices) for f in logger.filters):
        logger.addFilter(_SkipOverlapNotices())
    return logger
