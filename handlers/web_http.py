"""The web chat's HTTP routes: the page, its static files, the widget script, and the endpoints the page
talks to — a Server-Sent Events stream (GET /web/events?after=N) and POSTs for messages and uploads.

Safety: every POST (and any request carrying an Origin) must come from the page's own origin or one of
``allowed_origins`` (the association's site, for the widget); per-session and per-address rate limits;
message and upload size caps answered with a clear message in the person's language; a strict
Content-Security-Policy (no inline script, nothing from elsewhere)."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from handlers.http_body import read_capped
from handlers.web import MID_RE, TOKEN_RE, WebChat, new_token, user_id_of
from locales import LANGUAGES, N_, translator
from storage.files import read_stored

log = logging.getLogger(__name__)

COOKIE = "mustafid_session"
COOKIE_MAX_AGE = 180 * 24 * 3600
MAX_JSON_BYTES = 64 * 1024
MAX_TEXT_CHARS = 10_000  # the conversation itself answers anything over 4,000 characters
ACCEPTED_FILES = "image/jpeg,image/png,image/webp,application/pdf,.jpg,.jpeg,.png,.webp,.pdf"

# The page's own texts (the conversation's texts come from the assistant).
PAGE_KEYS = (
    N_("web.title"),
    N_("web.subtitle"),
    N_("web.log_label"),
    N_("web.composer_label"),
    N_("web.placeholder"),
    N_("web.send"),
    N_("web.attach"),
    N_("web.switch"),
    N_("web.connecting"),
    N_("web.offline"),
    N_("web.uploading"),
    N_("web.upload_failed"),
    N_("web.file_too_big"),
    N_("web.file_type"),
    N_("web.too_long"),
    N_("web.rate_limited"),
    N_("web.session_expired"),
    N_("web.file_from_staff"),
)


@dataclass(frozen=True)
class WebLimits:
    session_requests: int = 30  # per session per window
    address_requests: int = 120  # per address per window
    window_seconds: float = 60.0
    max_streams_per_session: int = 6


class SlidingWindow:
    """At most ``limit`` events per ``period`` seconds for each key."""

    def __init__(self, limit: int, period: float, timer: Any = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self.timer = timer
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.timer()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.period:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        if len(self._events) > 50_000:  # forget idle keys rather than grow without bound
            for stale in [k for k, v in self._events.items() if not v or v[-1] <= now - self.period]:
                del self._events[stale]
        return True


def _static(name: str) -> str:
    return resources.files("handlers.web_static").joinpath(name).read_text(encoding="utf-8")


def page_strings() -> dict[str, dict[str, str]]:
    return {
        lang: {key.removeprefix("web."): translator(lang)(key) for key in PAGE_KEYS} for lang in LANGUAGES
    }


def _json_for_html(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace("&", "\\u0026")


def web_routes(
    chat: WebChat, *, allowed_origins: Collection[str] = (), limits: WebLimits | None = None
) -> list[BaseRoute]:
    """The routes of the web chat, to be mounted on the one HTTP server (bot/http.py)."""
    limits = limits or WebLimits()
    extra_origins = {origin.rstrip("/") for origin in allowed_origins}
    per_session = SlidingWindow(limits.session_requests, limits.window_seconds)
    per_address = SlidingWindow(limits.address_requests, limits.window_seconds)
    strings = page_strings()
    template = _static("index.html")
    assets = {
        "chat.css": (_static("chat.css"), "text/css; charset=utf-8"),
        "chat.js": (_static("chat.js"), "text/javascript; charset=utf-8"),
    }
    widget = _static("widget.js").replace(
        "/*STRINGS*/{}", json.dumps({lang: strings[lang] for lang in strings}, ensure_ascii=False)
    )
    frame_ancestors = " ".join(["'self'", *sorted(extra_origins)])
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )

    def own_origin(request: Request) -> str:
        return f"{request.url.scheme}://{request.headers.get('host', '')}"

    def origin_ok(request: Request, required: bool) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return not required
        return origin.rstrip("/") in extra_origins or origin == own_origin(request)

    def session_of(request: Request) -> str | None:
        token = request.cookies.get(COOKIE, "")
        return token if TOKEN_RE.match(token) else None

    def headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        base = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
        return {**base, **(extra or {})}

    async def refuse(
        request: Request, status: int, key: str, lang: str | None = None, **params: Any
    ) -> Response:
        t = translator(lang or "ar")
        return JSONResponse({"error": t(key, **params), "key": key}, status_code=status, headers=headers())

    async def guard(request: Request, token: str | None) -> Response | None:
        """Origin, session and rate limits for the page's endpoints: a refusal, or None to go on."""
        if not origin_ok(request, required=request.method == "POST"):
            return JSONResponse({"error": "origin not allowed"}, status_code=403, headers=headers())
        if token is None:
            lang = _lang_of_request(request)
            return await refuse(request, 401, "web.session_expired", lang)
        address = request.client.host if request.client else "?"
        if not per_address.allow(address) or not per_session.allow(token):
            lang = await chat.language_of(user_id_of(token))
            return await refuse(request, 429, "web.rate_limited", lang)
        return None

    async def index(request: Request) -> Response:
        token = session_of(request)
        fresh = token is None
        if token is None:
            token = new_token()
        lang = await chat.language_of(user_id_of(token))
        words = strings[lang]
        page = template
        for name, value in (
            ("lang", lang),
            ("dir", "rtl" if lang == "ar" else "ltr"),
            ("title", words["title"]),
            ("subtitle", words["subtitle"]),
            ("log_label", words["log_label"]),
            ("composer_label", words["composer_label"]),
            ("placeholder", words["placeholder"]),
            ("send", words["send"]),
            ("attach", words["attach"]),
            ("switch", words["switch"]),
            ("connecting", words["connecting"]),
            ("accept", ACCEPTED_FILES),
            ("max_upload", str(chat.max_upload_bytes)),
            ("max_text", str(MAX_TEXT_CHARS)),
            ("embedded", "1" if request.query_params.get("embed") else "0"),
        ):
            page = page.replace("{{" + name + "}}", html.escape(value, quote=True))
        page = page.replace("{{strings}}", _json_for_html(strings))
        response = Response(
            page,
            media_type="text/html; charset=utf-8",
            headers=headers({"Content-Security-Policy": csp, "Cache-Control": "no-store"}),
        )
        if fresh:
            response.set_cookie(
                COOKIE,
                token,
                max_age=COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        body, media_type = found
        return Response(body, media_type=media_type, headers=headers({"Cache-Control": "no-cache"}))

    async def widget_js(request: Request) -> Response:
        return Response(
            widget,
            media_type="text/javascript; charset=utf-8",
            headers=headers({"Cache-Control": "max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"}),
        )

    async def events(request: Request) -> Response:
        token = session_of(request)
        if not origin_ok(request, required=False):
            return JSONResponse({"error": "origin not allowed"}, status_code=403, headers=headers())
        if token is None:
            return await refuse(request, 401, "web.session_expired", _lang_of_request(request))
        user_id = user_id_of(token)
        if chat.open_streams_of(user_id) >= limits.max_streams_per_session:
            return await refuse(request, 429, "web.rate_limited", await chat.language_of(user_id))
        after = _int(request.query_params.get("after") or request.headers.get("last-event-id"))
        last_seq = await chat.last_seq(user_id)
        if after > last_seq:  # a page from before the database was reset: show what there is
            after = 0

        queue = chat.subscribe(user_id)

        async def body() -> AsyncIterator[str]:
            yield f"event: hello\ndata: {json.dumps({'last': last_seq})}\n\n"
            async for item in chat.stream(user_id, after, queue):
                if item is None:
                    yield ": keep-alive\n\n"
                else:
                    yield f"id: {item['seq']}\ndata: {json.dumps(item, ensure_ascii=False)}\n\n"

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers=headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"}),
        )

    async def too_long(request: Request, user_id: str) -> Response:
        lang = await chat.language_of(user_id)
        return await refuse(request, 413, "web.too_long", lang, max=translator(lang).number(MAX_TEXT_CHARS))

    async def message(request: Request) -> Response:
        token = session_of(request)
        refused = await guard(request, token)
        if refused is not None:
            return refused
        assert token is not None
        user_id = user_id_of(token)
        lang = await chat.language_of(user_id)
        raw = await read_capped(request, MAX_JSON_BYTES)
        if raw is None:
            return await refuse(
                request, 413, "web.too_long", lang, max=translator(lang).number(MAX_TEXT_CHARS)
            )
        try:
            data = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
        if not isinstance(data, dict):
            return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
        if data.get("start") is True:
            return JSONResponse({"messages": await chat.start(user_id)}, headers=headers())
        mid, text, option, label = (data.get(k) for k in ("mid", "text", "option", "label"))
        if not isinstance(mid, str) or not MID_RE.match(mid):
            return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
        if option is not None:
            if not isinstance(option, str) or len(option) > 64:
                return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
            label = label[:200] if isinstance(label, str) else option
            events = await chat.receive(user_id, mid, option=option, label=label)
        else:
            if not isinstance(text, str) or not text.strip():
                return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
            if len(text) > MAX_TEXT_CHARS:
                return await too_long(request, user_id)
            events = await chat.receive(user_id, mid, text=text)
        return JSONResponse({"messages": events}, headers=headers())

    async def upload(request: Request) -> Response:
        token = session_of(request)
        refused = await guard(request, token)
        if refused is not None:
            return refused
        assert token is not None
        user_id = user_id_of(token)
        mid = request.query_params.get("mid", "")
        if not MID_RE.match(mid):
            return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
        data = await read_capped(request, chat.max_upload_bytes)
        if data is None:
            lang = await chat.language_of(user_id)
            max_mb = translator(lang).number(chat.max_upload_bytes // (1024 * 1024))
            return await refuse(request, 413, "error.file_size", lang, max_mb=max_mb)
        if not data:
            return JSONResponse({"error": "bad request"}, status_code=400, headers=headers())
        name = unquote(request.query_params.get("name", "") or "file")[:200]
        attachment = await chat.store_upload(data, name)
        events = await chat.receive(user_id, mid, attachment=attachment)
        return JSONResponse({"messages": events}, headers=headers())

    async def staff_file(request: Request) -> Response:
        token = session_of(request)
        if token is None:
            return Response(status_code=404)
        body = await chat.row(user_id_of(token), _int(request.path_params["seq"]))
        path = chat.file_path(body) if body is not None else None
        if path is None:
            return Response(status_code=404)
        info = body["file"]  # type: ignore[index]
        try:  # stored files are sealed at rest: opened here, sent whole (they are small)
            data = await asyncio.to_thread(read_stored, path)
        except FileNotFoundError:
            return Response(status_code=404)
        name = info.get("name") or path.name
        quoted = quote(name)
        disposition = (
            f"attachment; filename*=utf-8''{quoted}" if quoted != name else f'attachment; filename="{name}"'
        )
        return Response(
            data,
            media_type=info.get("mime") or "application/octet-stream",
            headers=headers({"Cache-Control": "private, no-store", "Content-Disposition": disposition}),
        )

    return [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", asset, methods=["GET"]),
        Route("/widget.js", widget_js, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Route("/web/events", events, methods=["GET"]),
        Route("/web/message", message, methods=["POST"]),
        Route("/web/upload", upload, methods=["POST"]),
        Route("/web/file/{seq:int}", staff_file, methods=["GET"]),
    ]


def _int(value: object) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0


def _lang_of_request(request: Request) -> str:
    accepted = request.headers.get("accept-language", "")
    return "en" if accepted.lower().startswith("en") else "ar"
