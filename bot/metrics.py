"""Prometheus metrics at GET /metrics on the one HTTP server.

Counted where things happen, labelled by channel and outcome only (never a contact, a chat id or a text):
- ``mustafid_messages_handled_total{channel,outcome}`` and ``mustafid_message_handling_seconds{channel}``:
  inbound messages through the conversation service (outcome ``ok`` or ``error``);
- ``mustafid_outbox_sends_total{channel,result}``: outbox send attempts (``sent``, ``retry_after``,
  ``transient``, ``blocked``, ``permanent``); ``mustafid_rate_limited_total{channel}``: 429 answers to them;
  ``mustafid_outbox_dead_total{channel}``: rows given up;
- ``mustafid_telegram_429_total{sender}``: 429 answers to Telegram sends, by who sent (``replies`` to the
  person who wrote, the ``outbox``'s notifications, the staff ``desk``), counted by the bot's FloodLimiter;
- ``mustafid_queue_rows{queue,state}``: read from the database at each scrape (the outbox and the staff queue
  by state, and any queue added with ``Metrics.depth``), so every worker reports the same shared queues;
  ``mustafid_queue_oldest_seconds{queue}``: how long the oldest row still waiting has waited (0: none).

With `run --workers N` the supervisor sets PROMETHEUS_MULTIPROC_DIR: counters and histograms are then summed
over the workers (prometheus-client's multiprocess mode), whichever worker answers the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.http import RouteGroup
from flows.clock import FakeClock, SystemClock
from handlers.telegram_limits import FloodLimiter
from storage import outbox, staff_queue
from storage.db import Database

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
Depth = Callable[[], Awaitable[dict[str, int]]]  # state -> rows
Age = Callable[[], Awaitable[float | None]]  # seconds the oldest waiting row has waited; None: nothing waits
SENDER_KINDS = ("replies", "outbox", "desk")
_OUTCOMES = {
    outbox.Sent: "sent",
    outbox.RetryAfter: "retry_after",
    outbox.Transient: "transient",
    outbox.Blocked: "blocked",
    outbox.Permanent: "permanent",
}


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_DIR))
        # In multiprocess mode the values live in files and are read back by MultiProcessCollector; the
        # metrics must not also sit in the registry that is exposed.
        self._own = CollectorRegistry()
        registry = None if self.multiprocess else self._own
        self.handled = Counter(
            "mustafid_messages_handled", "Inbound messages handled", ["channel", "outcome"], registry=registry
        )
        self.latency = Histogram(
            "mustafid_message_handling_seconds",
            "Time to handle one inbound message (lock wait included)",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.sends = Counter(
            "mustafid_outbox_sends",
            "Outbox send attempts by result",
            ["channel", "result"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "mustafid_rate_limited", "429 answers to outbox sends", ["channel"], registry=registry
        )
        self.dead = Counter("mustafid_outbox_dead", "Outbox rows given up", ["channel"], registry=registry)
        self.telegram_429 = Counter(
            "mustafid_telegram_429", "429 answers to Telegram sends, by sender", ["sender"], registry=registry
        )
        for kind in SENDER_KINDS:  # shown at 0 before the first 429
            self.telegram_429.labels(kind)
        self._depths: dict[str, Depth] = {}
        self._ages: dict[str, Age] = {}

    # -- hooks

    def message_handled(self, channel: str, seconds: float, failed: bool) -> None:
        self.handled.labels(channel, "error" if failed else "ok").inc()
        self.latency.labels(channel).observe(seconds)

    def outbox_result(self, channel: str, result: object) -> None:
        name = _OUTCOMES.get(type(result), "other")
        self.sends.labels(channel, name).inc()
        if name == "retry_after":
            self.rate_limited.labels(channel).inc()

    def outbox_dead(self, channel: str) -> None:
        self.dead.labels(channel).inc()

    def too_many_requests(self, sender: str) -> None:
        """A 429 from Telegram (FloodLimiter.on_retry_after); ``sender`` is one of ``SENDER_KINDS``."""
        self.telegram_429.labels(sender if sender in SENDER_KINDS else "other").inc()

    def depth(self, queue: str, read: Depth) -> None:
        """Report ``mustafid_queue_rows{queue=…}`` from ``read()`` at each scrape."""
        self._depths[queue] = read

    def age(self, queue: str, read: Age) -> None:
        """Report ``mustafid_queue_oldest_seconds{queue=…}`` from ``read()`` at each scrape."""
        self._ages[queue] = read

    def watch_staff_queue(self, db: Database, clock: SystemClock | FakeClock) -> None:
        """The staff queue's rows by state, and the age of its oldest waiting post (every staff chat)."""

        async def oldest() -> float | None:
            _, since = await staff_queue.backlog(db, None)
            return (clock.now() - since).total_seconds() if since is not None else None

        self.depth("staff_queue", partial(staff_queue.count_by_state, db))
        self.age("staff_queue", oldest)

    def watch_telegram(self, limiter: object) -> None:
        """Count the 429s the bot's FloodLimiter sees, by sender."""
        if isinstance(limiter, FloodLimiter):
            limiter.on_retry_after = self.too_many_requests

    # -- exposition

    async def render(self) -> bytes:
        depths = GaugeMetricFamily(
            "mustafid_queue_rows", "Rows in a queue, by state", labels=["queue", "state"]
        )
        for queue, read in self._depths.items():
            for state, count in sorted((await read()).items()):
                depths.add_metric([queue, state], count)
        ages = GaugeMetricFamily(
            "mustafid_queue_oldest_seconds", "How long the oldest waiting row has waited", labels=["queue"]
        )
        for queue, read_age in self._ages.items():
            ages.add_metric([queue], max(0.0, await read_age() or 0.0))
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            counted = generate_latest(registry)
        else:
            counted = generate_latest(self._own)
        shared = CollectorRegistry()
        shared.register(_Once(depths))
        shared.register(_Once(ages))
        return counted + generate_latest(shared)

    def route_group(self) -> RouteGroup:
        async def metrics(request: Request) -> Response:
            return Response(await self.render(), media_type=CONTENT_TYPE_LATEST)

        return RouteGroup("metrics", [Route("/metrics", metrics, methods=["GET"])])


class _Once:
    def __init__(self, family: Any) -> None:
        self.family = family

    def collect(self) -> list[Any]:
        return [self.family]
