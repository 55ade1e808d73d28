"""Prometheus metrics at GET /metrics on the one HTTP server.

Counted where things happen, labelled by channel and outcome only (never a contact, a chat id or a text):
- ``mustafid_messages_handled_total{channel,outcome}`` and ``mustafid_message_handling_seconds{channel}``:
  inbound messages through the conversation service (outcome ``ok`` or ``error``);
- ``mustafid_outbox_sends_total{channel,result}``: outbox send attempts (``sent``, ``retry_after``,
  ``transient``, ``blocked``, ``permanent``); ``mustafid_rate_limited_total{channel}``: 429 answers to them;
  ``mustafid_outbox_dead_total{channel}``: rows given up;
- ``mustafid_queue_rows{queue,state}``: read from the database at each scrape (the outbox by state, and any
  queue added with ``Metrics.depth``), so every worker reports the same shared queues.

With `run --workers N` the supervisor sets PROMETHEUS_MULTIPROC_DIR: counters and histograms are then summed
over the workers (prometheus-client's multiprocess mode), whichever worker answers the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.http import RouteGroup
from storage import outbox

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
Depth = Callable[[], Awaitable[dict[str, int]]]  # state -> rows
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
        self._depths: dict[str, Depth] = {}

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

    def depth(self, queue: str, read: Depth) -> None:
        """Report ``mustafid_queue_rows{queue=…}`` from ``read()`` at each scrape."""
        self._depths[queue] = read

    # -- exposition

    async def render(self) -> bytes:
        depths = GaugeMetricFamily(
            "mustafid_queue_rows", "Rows in a queue, by state", labels=["queue", "state"]
        )
        for queue, read in self._depths.items():
            for state, count in sorted((await read()).items()):
                depths.add_metric([queue, state], count)
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            counted = generate_latest(registry)
        else:
            counted = generate_latest(self._own)
        shared = CollectorRegistry()
        shared.register(_Once(depths))
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
