"""A fake Telegram Bot API server: real HTTP on 127.0.0.1, real request and response shapes.

Tests point the real python-telegram-bot client at it (``base_url`` / ``base_file_url``) and assert on
the requests it received, instead of patching the library. PTB sends parameters form-encoded (each
non-string value JSON-encoded) and switches to multipart/form-data when uploading files; other clients
may send a JSON body. All three are accepted.

    async with FakeBotApi() as api:
        bot = Bot("123:ABC", base_url=api.base_url, base_file_url=api.base_file_url)
        api.push_update(api.user_message(42, "/start"))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_TOKEN_BOT_ID = 7000000001

# Parameters whose form value is a plain string even when it looks like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "file_id",
        "language_code",
        "action",
        "name",
        "title",
        "description",
        "short_description",
        "inline_message_id",
        "icon_custom_emoji_id",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "photo",
        "document",
        "custom_title",
    }
)

# Methods that deliver a message to a chat: subject to blocking, rate limits and delivery counting.
_SENDING_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage", "forwardMessage"}
)
_CHAT_METHODS = _SENDING_METHODS | {"sendChatAction"}

_UPDATE_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "inline_query",
    "message_reaction",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_BOT_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?")


class Call(NamedTuple):
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request, as it appears in ``Call.params``."""

    filename: str | None
    content: bytes
    mime: str


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    mime: str
    size: int  # the size Telegram reports; may exceed len(content) to model huge files cheaply
    file_path: str
    name: str | None = None


@dataclass
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    chat_id: int | str | None
    drop: bool = False
    processed: bool = False  # for drops: the request takes effect, only the response is lost
    delay: float = 0.0  # the request takes effect at once; the answer comes this many seconds later


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return JSONResponse(body, status_code=self.status)


class _DroppedResponse(Response):
    """Sends the status line and headers, then returns without a body, so the server closes the
    connection mid-response: the client sees the connection drop (httpx RemoteProtocolError)."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )


@dataclass
class _Bucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float = field(default=-1.0)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def wait_needed(self, now: float, weight: int = 1) -> float:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        weight = min(weight, max(1, int(self.capacity)))
        return 0.0 if self.tokens >= weight else (weight - self.tokens) / self.rate

    def take(self, weight: int = 1) -> None:
        self.tokens -= min(weight, max(1, int(self.capacity)))


class FakeBotApi:
    """A Telegram Bot API server for tests. See the module docstring."""

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_username: str = "MustafidTestBot",
        long_poll_cap: float = 1.0,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        group_rate_per_minute: float | None = None,
        group_period: float = 60.0,  # benchmarks scale Telegram's minute down
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.long_poll_cap = long_poll_cap
        self.calls: list[Call] = []
        self.accepted_per_chat: Counter[int | str] = Counter()
        self.duplicates = 0
        self.rejected_429 = 0
        self.webhook: dict[str, Any] = {"url": ""}
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        self._global_rate = global_rate
        self._per_chat_rate = per_chat_rate
        self._group_rate = group_rate_per_minute
        self._group_period = group_period
        self._global_bucket = _Bucket(global_rate, max(1.0, global_rate)) if global_rate else None
        self._chat_buckets: dict[int | str, _Bucket] = {}
        self._seen_deliveries: set[tuple[Any, ...]] = set()
        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 100_000_001
        self._update_signal = asyncio.Event()
        self._call_signal = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._faults: list[_Fault] = []
        self._blocked: set[int | str] = set()
        self._members: dict[tuple[int | str, int], str] = {}
        self._restricted_left: set[tuple[int | str, int]] = set()
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._open_callbacks: set[str] = set()
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._topics: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._bot_id = int(_TOKEN_RE.match(token).group(1)) if token and _TOKEN_RE.match(token) else None
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._handle_api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._handle_file, methods=["GET"]),
            ]
        )
        table: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChatMember": self._get_chat_member,
            "getChat": self._get_chat,
            "getFile": self._get_file,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "createForumTopic": self._create_forum_topic,
            "closeForumTopic": self._close_forum_topic,
            "reopenForumTopic": self._reopen_forum_topic,
        }
        self._methods = {name.lower(): handler for name, handler in table.items()}
        self._canonical = {name.lower(): name for name in table}

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (what a channel calls ``api_base``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.api_base}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.api_base}/file/bot"

    async def __aenter__(self) -> FakeBotApi:
        self._serving = serve_asgi(self.app, lifespan="off")
        self.port = await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        self._wake_pollers()
        await self._serving.__aexit__(None, None, None)

    # ---- test-side: state and fault injection ------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates. An ``update_id`` is assigned if missing."""
        if "update_id" not in update:
            update["update_id"] = self._allocate_update_id()
        self._pending.append(update)
        self._wake_pollers()
        return update

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = None,
        *,
        description: str | None = None,
        chat_id: int | str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` (optionally only to ``chat_id``) fail with ``status``.
        A 429 always carries ``parameters.retry_after`` (default 2 s)."""
        if status == 429 and retry_after is None:
            retry_after = 2
        text = description or _default_description(status, retry_after)
        for _ in range(times):
            self._faults.append(_Fault(method.lower(), status, text, retry_after, chat_id))

    def drop_next(
        self, method: str, *, processed: bool = False, chat_id: int | str | None = None, times: int = 1
    ) -> None:
        """Close the connection of the next call(s) of ``method`` before the response is complete.
        ``processed=True`` models Telegram having acted on it anyway (so a resend duplicates)."""
        for _ in range(times):
            self._faults.append(_Fault(method.lower(), 0, "", None, chat_id, drop=True, processed=processed))

    def answer_late(
        self, method: str, seconds: float, *, chat_id: int | str | None = None, times: int = 1
    ) -> None:
        """The next call(s) of ``method`` take effect at once, but the answer comes ``seconds`` later (Telegram
        accepted the message and was slow to say so)."""
        for _ in range(times):
            self._faults.append(_Fault(method.lower(), 0, "", None, chat_id, delay=seconds))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: anything sent to the chat gets 403."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def set_member(self, chat_id: int | str, user_id: int, status: str, *, is_member: bool = True) -> None:
        """status: creator, administrator, member, restricted, left or kicked. ``is_member`` is for
        ``restricted``: Telegram keeps restrictions on a user who has left the chat (``is_member`` false)."""
        self._members[(chat_id, user_id)] = status
        if status == "restricted":
            self._restricted_left.discard((chat_id, user_id))
            if not is_member:
                self._restricted_left.add((chat_id, user_id))
        if isinstance(chat_id, int) and chat_id < 0:
            self._ensure_group(chat_id)

    def add_chat(
        self, chat_id: int, *, type: str = "supergroup", title: str = "Staff", is_forum: bool = False
    ) -> dict[str, Any]:
        chat = {"id": chat_id, "type": type, "title": title}
        if is_forum:
            chat["is_forum"] = True
        self._chats[chat_id] = chat
        return chat

    def add_user(
        self, user_id: int, *, first_name: str = "Test", language_code: str | None = "ar", **extra: Any
    ) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": first_name, **extra}
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        chat = {"id": user_id, "type": "private", "first_name": first_name}
        self._chats.setdefault(user_id, chat)
        return user

    def add_file(
        self,
        file_id: str,
        content: bytes,
        mime: str = "application/octet-stream",
        *,
        file_size: int | None = None,
        name: str | None = None,
    ) -> StoredFile:
        folder = "photos" if mime.startswith("image/") else "documents"
        suffix = _suffix_for(mime, name)
        n = next(self._ids)
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AQAD{n:06d}",
            content=content,
            mime=mime,
            size=len(content) if file_size is None else file_size,
            file_path=f"{folder}/file_{n}{suffix}",
            name=name,
        )
        self._files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    # ---- test-side: update builders (they return the update; push_update queues it) ----------------

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str | None = "ar",
        first_name: str = "Test",
    ) -> dict[str, Any]:
        """A private text message; text starting with "/" carries a bot_command entity as Telegram's does."""
        user = self._user(user_id, language_code, first_name)
        content: dict[str, Any] = {"text": text}
        command = _BOT_COMMAND_RE.match(text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.group(0))}]
        message = self._new_message(user_id, sender=user, content=content)
        return {"update_id": self._allocate_update_id(), "message": message}

    def callback_press(
        self,
        user_id: int,
        data: str,
        message_id: int,
        *,
        chat_id: int | None = None,
        language_code: str | None = "ar",
    ) -> dict[str, Any]:
        """The user pressed an inline button with ``data`` under message ``message_id``."""
        user = self._user(user_id, language_code, "Test")
        chat_key = user_id if chat_id is None else chat_id
        message = self._messages.get((chat_key, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "from": self._bot_user(),
                "chat": self._chat(chat_key),
                "date": int(time.time()),
                "text": "…",
            }
        query_id = str(4_000_000_000_000_000_000 + next(self._ids))
        self._open_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": user,
            "message": _shallow(message),
            "chat_instance": f"-{abs(hash(chat_key)) % 10**18}",
            "data": data,
        }
        return {"update_id": self._allocate_update_id(), "callback_query": query}

    def photo_message(
        self,
        user_id: int,
        content: bytes = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9",
        *,
        caption: str | None = None,
        file_id: str | None = None,
        file_size: int | None = None,
        language_code: str | None = "ar",
    ) -> dict[str, Any]:
        """A photo as Telegram delivers it: several sizes, largest last; the files are registered."""
        user = self._user(user_id, language_code, "Test")
        file_id = file_id or f"AgACAgQAAxkBAAI{next(self._ids):08d}"
        large = self.add_file(file_id, content, "image/jpeg", file_size=file_size)
        thumb = self.add_file(file_id + "_s", content[:256], "image/jpeg")
        sizes = [
            {"file_id": thumb.file_id, "file_unique_id": thumb.file_unique_id, "width": 90, "height": 67,
             "file_size": thumb.size},
            {"file_id": large.file_id, "file_unique_id": large.file_unique_id, "width": 1280, "height": 960,
             "file_size": large.size},
        ]  # fmt: skip
        body: dict[str, Any] = {"photo": sizes}
        if caption:
            body["caption"] = caption
        message = self._new_message(user_id, sender=user, content=body)
        return {"update_id": self._allocate_update_id(), "message": message}

    def document_message(
        self,
        user_id: int,
        content: bytes = b"%PDF-1.4\n%fake\n%%EOF\n",
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        file_id: str | None = None,
        file_size: int | None = None,
        caption: str | None = None,
        language_code: str | None = "ar",
    ) -> dict[str, Any]:
        user = self._user(user_id, language_code, "Test")
        file_id = file_id or f"BQACAgQAAxkBAAI{next(self._ids):08d}"
        stored = self.add_file(file_id, content, mime_type, file_size=file_size, name=file_name)
        body: dict[str, Any] = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": stored.size,
            }
        }
        if caption:
            body["caption"] = caption
        message = self._new_message(user_id, sender=user, content=body)
        return {"update_id": self._allocate_update_id(), "message": message}

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
        *,
        first_name: str = "Staff",
    ) -> dict[str, Any]:
        """A message in a group. In a forum topic, Telegram sets ``reply_to_message`` to the topic's
        creation message when the user did not reply to anything: real payloads do this."""
        self._ensure_group(chat_id, forum=message_thread_id is not None)
        user = self._user(user_id, None, first_name)
        content: dict[str, Any] = {"text": text}
        command = _BOT_COMMAND_RE.match(text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.group(0))}]
        if message_thread_id is not None:
            content["message_thread_id"] = message_thread_id
            content["is_topic_message"] = True
        target = reply_to_message_id if reply_to_message_id is not None else message_thread_id
        if target is not None:
            replied = self._messages.get((chat_id, target))
            content["reply_to_message"] = _shallow(replied) if replied else {
                "message_id": target, "date": int(time.time()), "chat": self._chat(chat_id),
            }  # fmt: skip
        message = self._new_message(chat_id, sender=user, content=content)
        return {"update_id": self._allocate_update_id(), "message": message}

    def my_chat_member_kicked(self, user_id: int) -> dict[str, Any]:
        """The user blocked the bot: Telegram's my_chat_member update; later sends get 403."""
        self.block(user_id)
        return self._my_chat_member(user_id, "member", "kicked")

    def my_chat_member_unblocked(self, user_id: int) -> dict[str, Any]:
        self.unblock(user_id)
        return self._my_chat_member(user_id, "kicked", "member")

    async def deliver_webhook(
        self, url: str, update: dict[str, Any], *, secret_token: str | None = None, timeout: float = 5.0
    ) -> int:
        """POST ``update`` to ``url`` as Telegram does; returns the HTTP status."""
        if "update_id" not in update:
            update["update_id"] = self._allocate_update_id()
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token is not None else {}
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, json=update, headers=headers)
        return response.status_code

    # ---- test-side: inspection -------------------------------------------------------------------

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        wanted = method.lower()
        return [call.params for call in self.calls if call.method.lower() == wanted]

    def sent_messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Messages the bot has successfully sent (as stored now, so edits show), oldest first."""
        return [
            message
            for (chat, _), message in self._messages.items()
            if message.get("from", {}).get("is_bot") and (chat_id is None or chat == chat_id)
        ]

    def commands(self, language_code: str = "", scope: str = "default") -> list[dict[str, str]]:
        return self._commands.get((scope, language_code), [])

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._pending)

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``method`` has been called ``count`` times; returns those calls' params."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_of(method)
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{method} called {len(found)} times, expected {count}")
            signal = self._call_signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                pass

    # ---- HTTP ------------------------------------------------------------------------------------

    async def _handle_api(self, request: Request) -> Response:
        token = request.path_params["token"]
        method_name = request.path_params["method"]
        try:
            params = await _read_params(request)
        except ValueError:
            params = {}
            self._record(method_name, params)
            return _ApiError(400, "Bad Request: can't parse request body").response()
        method = self._canonical.get(method_name.lower(), method_name)
        self._record(method, params)
        try:
            self._check_token(token)
            handler = self._methods.get(method.lower())
            if handler is None:
                raise _ApiError(404, "Not Found")
            fault = self._take_fault(method, params)
            if fault is not None and fault.drop:
                if fault.processed:
                    await self._run(handler, method, params)
                return _DroppedResponse()
            if fault is not None and fault.delay:
                result = await self._run(handler, method, params)
                await asyncio.sleep(fault.delay)  # the slow answer being modelled, not synchronisation
                return JSONResponse({"ok": True, "result": result})
            if fault is not None:
                if fault.status == 429:
                    self.rejected_429 += 1
                raise _ApiError(
                    fault.status,
                    fault.description,
                    {"retry_after": fault.retry_after} if fault.retry_after else None,
                )
            result = await self._run(handler, method, params)
        except _ApiError as error:
            return error.response()
        return JSONResponse({"ok": True, "result": result})

    async def _run(
        self, handler: Callable[[dict[str, Any]], Any], method: str, params: dict[str, Any]
    ) -> Any:
        chat_key = None
        if method in _CHAT_METHODS:
            chat_key = self._resolve_chat_id(params.get("chat_id"))
            if chat_key in self._blocked:
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if method in _SENDING_METHODS:  # an album is as many messages as it has files
            media = params.get("media") if method == "sendMediaGroup" else None
            self._enforce_rate(chat_key, len(media) if isinstance(media, list) and media else 1)
        result = handler(params)
        if asyncio.iscoroutine(result):
            result = await result
        if method in _SENDING_METHODS:
            self._count_delivery(method, chat_key, params)
        return result

    async def _handle_file(self, request: Request) -> Response:
        stored = self._files_by_path.get(request.path_params["file_path"])
        if stored is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        return Response(stored.content, media_type=stored.mime)

    def _record(self, method: str, params: dict[str, Any]) -> None:
        self.calls.append(Call(method, params, time.monotonic()))
        self._call_signal.set()
        self._call_signal = asyncio.Event()

    def _check_token(self, token: str) -> None:
        match = _TOKEN_RE.match(token)
        if match is None:
            raise _ApiError(404, "Not Found")
        if self.token is not None and token != self.token:
            raise _ApiError(401, "Unauthorized")
        self._bot_id = int(match.group(1))

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        chat = params.get("chat_id")
        for index, fault in enumerate(self._faults):
            if fault.method != method.lower():
                continue
            if fault.chat_id is not None and self._resolve_chat_id(chat, strict=False) != fault.chat_id:
                continue
            return self._faults.pop(index)
        return None

    def _enforce_rate(self, chat_key: int | str | None, weight: int = 1) -> None:
        now = time.monotonic()
        buckets = []
        if self._global_bucket is not None:
            buckets.append(self._global_bucket)
        chat_bucket = self._chat_bucket(chat_key)
        if chat_bucket is not None:
            buckets.append(chat_bucket)
        wait = max((bucket.wait_needed(now, weight) for bucket in buckets), default=0.0)
        if wait > 0:
            self.rejected_429 += 1
            retry_after = max(1, math.ceil(wait))
            raise _ApiError(429, _default_description(429, retry_after), {"retry_after": retry_after})
        for bucket in buckets:
            bucket.take(weight)

    def _chat_bucket(self, chat_key: int | str | None) -> _Bucket | None:
        if chat_key is None:
            return None
        is_group = not isinstance(chat_key, int) or chat_key < 0
        if is_group and self._group_rate:
            rate, capacity = self._group_rate / self._group_period, self._group_rate
        elif not is_group and self._per_chat_rate:
            rate, capacity = self._per_chat_rate, max(1.0, self._per_chat_rate)
        else:
            return None
        bucket = self._chat_buckets.get(chat_key)
        if bucket is None:
            bucket = self._chat_buckets[chat_key] = _Bucket(rate, capacity)
        return bucket

    def _count_delivery(self, method: str, chat_key: int | str | None, params: dict[str, Any]) -> None:
        if chat_key is None:
            return
        media = params.get("media") if method == "sendMediaGroup" else None
        self.accepted_per_chat[chat_key] += len(media) if isinstance(media, list) else 1
        body = params.get("text") or params.get("caption") or media
        if body is None:
            body = (params.get("from_chat_id"), params.get("message_id"))
        key = (chat_key, method, json.dumps(body, default=str, sort_keys=True))
        if key in self._seen_deliveries:
            self.duplicates += 1
        self._seen_deliveries.add(key)

    # ---- Bot API methods -------------------------------------------------------------------------

    def _true(self, params: dict[str, Any]) -> bool:
        return True

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise _ApiError(
                409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )  # fmt: skip
        offset = _as_int(params.get("offset"), 0)
        limit = min(100, max(1, _as_int(params.get("limit"), 100)))
        timeout = max(0.0, float(params.get("timeout") or 0))
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self.webhook["allowed_updates"] = allowed
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = time.monotonic() + min(timeout, self.long_poll_cap)
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                    "instance is running",
                )  # fmt: skip
            # Updates of kinds the bot did not ask for are dropped, as Telegram does.
            self._pending = [
                u for u in self._pending if _update_allowed(u, self.webhook.get("allowed_updates"))
            ]
            ready = self._pending
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._closing:
                return ready[:limit]
            signal = self._update_signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                pass

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections", 40),
        }
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": "", "allowed_updates": self.webhook.get("allowed_updates")}
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if info["url"]:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise _ApiError(400, "Bad Request: message is too long")
        content: dict[str, Any] = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._bot_message(params, content)

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._incoming_file(params.get("photo"), "image/jpeg")
        sizes = [
            {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "width": 1280,
             "height": 960, "file_size": stored.size},
        ]  # fmt: skip
        return self._bot_message(params, {"photo": sizes, **self._caption(params)})

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        value = params.get("document")
        stored = self._incoming_file(value, "application/octet-stream")
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "mime_type": stored.mime,
        }
        if stored.name:
            document["file_name"] = stored.name
        return self._bot_message(params, {"document": document, **self._caption(params)})

    def _send_media_group(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """An album: 2 to 10 photos/videos, or documents only, or audio only; one message per item, with
        a shared media_group_id. Uploads come as ``attach://<name>`` parts of the multipart body."""
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _ApiError(400, "Bad Request: wrong number of media specified: must be 2-10")
        kinds = {item.get("type") if isinstance(item, dict) else None for item in media}
        if not kinds <= {"photo", "video", "document", "audio"} or (
            len(kinds) > 1 and not kinds <= {"photo", "video"}
        ):
            raise _ApiError(400, "Bad Request: documents and audio can't be mixed with other media types")
        group_id = str(next(self._ids) + 13_000_000_000)
        contents = []
        for item in media:  # every file checked before any message is made: an album is all or nothing
            value = item.get("media")
            if isinstance(value, str) and value.startswith("attach://"):
                value = params.get(value.removeprefix("attach://"))
            if item["type"] == "photo":
                stored = self._incoming_file(value, "image/jpeg")
                content: dict[str, Any] = {"photo": [
                    {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "width": 1280,
                     "height": 960, "file_size": stored.size},
                ]}  # fmt: skip
            else:
                stored = self._incoming_file(value, "application/octet-stream")
                content = {"document": {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                        "file_size": stored.size, "mime_type": stored.mime}}  # fmt: skip
                if stored.name:
                    content["document"]["file_name"] = stored.name
            contents.append({**content, **self._caption(item), "media_group_id": group_id})
        return [self._bot_message(params, content) for content in contents]

    def _copy_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source_message(params, "copy")
        content = {k: source[k] for k in ("text", "entities", "photo", "document", "caption") if k in source}
        if "caption" in params:
            content.update(self._caption(params))
        message = self._bot_message(params, content)
        return {"message_id": message["message_id"]}

    def _forward_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source_message(params, "forward")
        content = {k: source[k] for k in ("text", "entities", "photo", "document", "caption") if k in source}
        sender = source.get("from")
        origin: dict[str, Any] = {"type": "user", "date": source["date"], "sender_user": sender}
        if sender is None:
            origin = {"type": "chat", "date": source["date"], "sender_chat": source["chat"]}
        content["forward_origin"] = origin
        return self._bot_message(params, content)

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: text must be non-empty")
        if len(text) > MAX_TEXT:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        markup = self._inline_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        # Quirk: editing the text without reply_markup removes the message's inline keyboard.
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _ApiError(
                400, "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )  # fmt: skip
        message["text"] = text
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = self._inline_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        message = self._editable(params)
        if message.get("reply_markup") == markup:
            raise _ApiError(
                400, "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )  # fmt: skip
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return message

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise _ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text") or ""
        if len(text) > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        self.answered_callbacks[query_id] = params
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._resolve_chat_id(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _ApiError(400, "Bad Request: commands not specified")
        for command in commands:
            if not _COMMAND_RE.match(str(command.get("command", ""))):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _ApiError(400, "Bad Request: command description is empty")
        self._commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self._commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_key = self._resolve_chat_id(params.get("chat_id"))
        user_id = _as_int(params.get("user_id"), 0)
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "User"}
        if user_id == self._bot_id:
            user = self._bot_user()
        member = _chat_member(self._members.get((chat_key, user_id), "left"), user)
        if (chat_key, user_id) in self._restricted_left:
            member["is_member"] = False
        return member

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_key = self._resolve_chat_id(params.get("chat_id"))
        chat = self._chats.get(chat_key)
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if stored.size > MAX_DOWNLOAD_BYTES:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    def _create_forum_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_key = self._resolve_chat_id(params.get("chat_id"))
        chat = self._chats.get(chat_key)
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if not chat.get("is_forum"):
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        name = params.get("name") or ""
        if not 1 <= len(name) <= 128:
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY")
        topic = {"name": name, "icon_color": params.get("icon_color", 7322096)}
        # The thread id is the message id of the service message that created the topic.
        created = self._new_message(
            chat_key, sender=self._bot_user(), content={"forum_topic_created": dict(topic)}
        )
        topic["message_thread_id"] = created["message_id"]
        created["message_thread_id"] = created["message_id"]
        created["is_topic_message"] = True
        self._topics[(chat_key, created["message_id"])] = {**topic, "closed": False}
        return topic

    def _close_forum_topic(self, params: dict[str, Any]) -> bool:
        self._topic(params)["closed"] = True
        return True

    def _reopen_forum_topic(self, params: dict[str, Any]) -> bool:
        self._topic(params)["closed"] = False
        return True

    # ---- helpers ---------------------------------------------------------------------------------

    def _topic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_key = self._resolve_chat_id(params.get("chat_id"))
        topic = self._topics.get((chat_key, _as_int(params.get("message_thread_id"), 0)))
        if topic is None:
            raise _ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        return topic

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {}
        return (scope.get("type", "default"), params.get("language_code") or "")

    def _caption(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if not caption:
            return {}
        if len(caption) > MAX_CAPTION:
            raise _ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption}

    def _incoming_file(self, value: Any, default_mime: str) -> StoredFile:
        if isinstance(value, UploadedFile):
            file_id = f"BQACAgQAAxkDAAI{next(self._ids):08d}"
            return self.add_file(file_id, value.content, value.mime or default_mime, name=value.filename)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.add_file(f"BQACAgQAAxkDAAI{next(self._ids):08d}", b"", default_mime)
        raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _source_message(self, params: dict[str, Any], verb: str) -> dict[str, Any]:
        source_chat = self._resolve_chat_id(params.get("from_chat_id"))
        source = self._messages.get((source_chat, _as_int(params.get("message_id"), 0)))
        if source is None:
            raise _ApiError(400, f"Bad Request: message to {verb} not found")
        return source

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_key = self._resolve_chat_id(params.get("chat_id"))
        message = self._messages.get((chat_key, _as_int(params.get("message_id"), 0)))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if not message.get("from", {}).get("is_bot"):
            raise _ApiError(400, "Bad Request: message can't be edited")
        return message

    def _bot_message(self, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        chat_key = self._resolve_chat_id(params.get("chat_id"))
        markup = self._inline_markup(params.get("reply_markup"))
        if markup is not None:
            content["reply_markup"] = markup
        thread = params.get("message_thread_id")
        if thread is not None:
            topic = self._topics.get((chat_key, _as_int(thread, 0)))
            if topic is None and self._chats.get(chat_key, {}).get("is_forum"):
                raise _ApiError(400, "Bad Request: message thread not found")
            content["message_thread_id"] = _as_int(thread, 0)
            content["is_topic_message"] = True
        reply_to = params.get("reply_to_message_id")
        allow_without = bool(params.get("allow_sending_without_reply"))
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            reply_to = reply.get("message_id")
            allow_without = bool(reply.get("allow_sending_without_reply"))
        if reply_to is not None:
            replied = self._messages.get((chat_key, _as_int(reply_to, 0)))
            if replied is not None:
                content["reply_to_message"] = _shallow(replied)
            elif not allow_without:
                raise _ApiError(400, "Bad Request: message to be replied not found")
        return self._new_message(chat_key, sender=self._bot_user(), content=content)

    def _inline_markup(self, markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None  # reply keyboards and keyboard removal are not echoed back in the message
        if not isinstance(rows, list):
            raise _ApiError(400, "Bad Request: can't parse inline keyboard")
        for row in rows:
            for button in row:
                if not button.get("text"):
                    raise _ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if len(actions) != 1:
                    raise _ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        return markup

    def _resolve_chat_id(self, chat_id: Any, *, strict: bool = True) -> int | str:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for key, chat in self._chats.items():
                if "@" + str(chat.get("username", "")) == chat_id:
                    return key
            if strict:
                raise _ApiError(400, "Bad Request: chat not found")
            return chat_id
        value = _as_int(chat_id, None)
        if value is None or value == 0:
            if strict:
                raise _ApiError(400, "Bad Request: chat_id is empty")
            return chat_id
        return value

    def _chat(self, chat_key: int | str) -> dict[str, Any]:
        chat = self._chats.get(chat_key)
        if chat is not None:
            return chat
        if isinstance(chat_key, int) and chat_key > 0:
            user = self._users.get(chat_key, {})
            return {"id": chat_key, "type": "private", "first_name": user.get("first_name", "User")}
        if isinstance(chat_key, int) and str(chat_key).startswith("-100"):
            return {"id": chat_key, "type": "supergroup", "title": "Group"}
        return {"id": chat_key, "type": "group", "title": "Group"}

    def _ensure_group(self, chat_id: int, *, forum: bool = False) -> None:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self.add_chat(chat_id, type="supergroup" if str(chat_id).startswith("-100") else "group")
        if forum:
            chat["is_forum"] = True

    def _user(self, user_id: int, language_code: str | None, first_name: str) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            return self.add_user(user_id, first_name=first_name, language_code=language_code)
        if language_code and user.get("language_code") != language_code:
            user["language_code"] = language_code
        return user

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self._bot_id or DEFAULT_TOKEN_BOT_ID,
            "is_bot": True,
            "first_name": "Mustafid",
            "username": self.bot_username,
        }

    def _new_message(
        self, chat_key: int | str, *, sender: dict[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        counter = self._message_ids.setdefault(chat_key, itertools.count(1))
        message = {
            "message_id": next(counter),
            "from": sender,
            "chat": self._chat(chat_key),
            "date": int(time.time()),
            **content,
        }
        self._messages[(chat_key, message["message_id"])] = message
        return message

    def _my_chat_member(self, user_id: int, old: str, new: str) -> dict[str, Any]:
        user = self._user(user_id, None, "Test")
        now = int(time.time())
        bot = self._bot_user()
        old_member = _chat_member(old, bot)
        new_member = _chat_member(new, bot)
        update = {
            "chat": self._chat(user_id),
            "from": user,
            "date": now,
            "old_chat_member": old_member,
            "new_chat_member": new_member,
        }
        return {"update_id": self._allocate_update_id(), "my_chat_member": update}

    def _allocate_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _wake_pollers(self) -> None:
        self._update_signal.set()
        self._update_signal = asyncio.Event()


# ---- module helpers ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, *, lifespan: str = "on") -> AsyncIterator[int]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 and a free port, inside the current event loop.
    Yields the port."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are TCP, and
    # without it Nagle + delayed ACK add 40 ms to every keep-alive response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="critical",
        access_log=False,
        lifespan=lifespan,
        http="h11",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.005)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode_value(k, v) for k, v in request.query_params.items()}
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if not body:
        return params
    if content_type.startswith("application/json"):
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("JSON body must be an object")
        params.update(decoded)
    elif content_type.startswith("multipart/form-data"):
        params.update(_parse_multipart(content_type, body))
    else:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        params.update({k: _decode_value(k, v) for k, v in pairs})
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.get(value.removeprefix("attach://"), value)
    return params


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart without boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, Any] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = re.search(r'(?<!file)name="([^"]*)"', disposition)
        if name_match is None:
            continue
        file_match = re.search(r'filename="([^"]*)"', disposition)
        if file_match is not None:
            fields[name_match.group(1)] = UploadedFile(
                filename=file_match.group(1),
                content=data,
                mime=headers.get("content-type", "application/octet-stream"),
            )
        else:
            fields[name_match.group(1)] = _decode_value(name_match.group(1), data.decode("utf-8"))
    return fields


def _decode_value(name: str, value: str) -> Any:
    """PTB sends strings as-is and everything else JSON-encoded; undo that."""
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_int(value: Any, default: Any) -> Any:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def _update_allowed(update: dict[str, Any], allowed: list[str] | None) -> bool:
    if not allowed:
        # Telegram's default leaves out chat_member, message_reaction and a few others.
        return not any(kind in update for kind in ("chat_member", "message_reaction"))
    return any(kind in update for kind in allowed if kind in _UPDATE_KINDS)


def _shallow(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _chat_member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            dict.fromkeys(
                (
                    "can_be_edited",
                    "is_anonymous",
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                ),
                False,
            )
        )
        member.update(can_manage_chat=True, can_manage_topics=True, can_pin_messages=True)
    elif status == "restricted":
        member.update(
            dict.fromkeys(
                (
                    "can_change_info",
                    "can_invite_users",
                    "can_pin_messages",
                    "can_send_messages",
                    "can_send_polls",
                    "can_send_other_messages",
                    "can_add_web_page_previews",
                    "can_manage_topics",
                    "can_send_audios",
                    "can_send_documents",
                    "can_send_photos",
                    "can_send_videos",
                    "can_send_video_notes",
                    "can_send_voice_notes",
                    "can_edit_tag",
                    "can_react_to_messages",
                ),
                False,
            )
        )
        member.update(is_member=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0
    return member


def _default_description(status: int, retry_after: int | None) -> str:
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict",
        429: f"Too Many Requests: retry after {retry_after}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(status, f"Error {status}")


def _suffix_for(mime: str, name: str | None) -> str:
    if name and "." in name:
        return "." + name.rsplit(".", 1)[1]
    return {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}.get(mime, "")
