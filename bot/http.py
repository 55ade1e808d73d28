"""The one HTTP server of `python -m bot run` (Starlette + uvicorn at BOT_WEBHOOK_LISTEN:BOT_WEBHOOK_PORT).

Route groups are added by what is configured: health (always), the web chat (unless BOT_WEB_CHAT=false), the
Telegram webhook (with BOT_TELEGRAM_WEBHOOK_URL), and others such as WhatsApp's (``server.add(RouteGroup(…))``).
A group may start and stop things with the server, and be told when the server begins to stop (the web chat
ends its open streams then, so uvicorn does not wait for them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]


@dataclass
class RouteGroup:
    name: str
    routes: Sequence[BaseRoute]
    startup: Callable[[], Awaitable[None]] | None = None
    shutdown: Callable[[], Awaitable[None]] | None = None
    stopping: Callable[[], None] | None = None  # the server begins to stop: end long-lived responses
    checks: Sequence[Check] = field(default_factory=tuple)  # what /readyz asks


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:  # SIGINT/SIGTERM while uvicorn serves
        self._on_exit()
        super().handle_exit(sig, frame)


class HttpServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.groups: list[RouteGroup] = []
        self.ready = False
        self.started = False

    def add(self, group: RouteGroup) -> None:
        self.groups.append(group)

    def app(self) -> Starlette:
        """One Starlette app with /healthz and /readyz and every group's routes."""

        async def healthz(request: Request) -> Response:
            return PlainTextResponse(
                "ok" if self.ready else "starting", status_code=200 if self.ready else 503
            )

        async def readyz(request: Request) -> Response:
            if not self.ready:
                return PlainTextResponse("starting", status_code=503)
            for group in self.groups:
                for check in group.checks:
                    try:
                        ok = await check()
                    except Exception as error:  # a check that raises is a failed check
                        log.warning("readiness check of %s failed (%s)", group.name, type(error).__name__)
                        ok = False
                    if not ok:
                        return PlainTextResponse(f"not ready: {group.name}", status_code=503)
            return PlainTextResponse("ready")

        routes: list[BaseRoute] = [
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
        for group in self.groups:
            routes.extend(group.routes)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            started: list[RouteGroup] = []
            try:
                for group in self.groups:
                    if group.startup is not None:
                        await group.startup()
                    started.append(group)
                self.ready = True
                yield
            finally:
                self.ready = False
                for group in reversed(started):
                    if group.shutdown is not None:
                        await group.shutdown()

        return Starlette(routes=routes, lifespan=lifespan)

    def stopping(self) -> None:
        self.ready = False
        for group in self.groups:
            if group.stopping is not None:
                group.stopping()

    async def serve(self, stop: asyncio.Event | None = None, sock: socket.socket | None = None) -> bool:
        """Serve until ``stop`` is set (or SIGINT/SIGTERM when no event is given), on ``sock`` when given (a
        worker of `run --workers N`). False when the server could not start (the port is taken: uvicorn has
        said so)."""
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,  # URLs and addresses are personal data enough: no access log
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        server = _Server(config, self.stopping)
        sockets = [sock] if sock is not None else None
        if stop is None:
            await server.serve(sockets)  # uvicorn handles SIGINT and SIGTERM
        else:
            serving = asyncio.create_task(server.serve(sockets))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            self.stopping()
            server.should_exit = True
            stopping.cancel()
            await serving
        self.started = server.started
        return server.started


def public_url(host: str, port: int, scheme: str = "http") -> str:
    """The address to open in a browser for a listening address (0.0.0.0 is every interface: localhost)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}/"
