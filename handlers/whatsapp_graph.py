"""The WhatsApp Cloud API over HTTP (httpx): send a message, upload and download media.

Every request carries ``Authorization: Bearer <token>``. Errors come back in Meta's envelope
``{"error": {"code", "message", "error_data": {"details"}, …}}`` and are decided by ``code``, never by the
HTTP status (130429 may come with 400 or 429)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

DEFAULT_API_BASE = "https://graph.facebook.com/v23.0"


class ErrorClass(StrEnum):
    WINDOW = "window"  # 131047: more than 24 h since the person's last message; send a template
    RATE = "rate"  # 130429 throughput, 131056 pair rate, 80007/4 account limits: wait, not a failure
    UNREACHABLE = "unreachable"  # 131026: the message cannot be delivered to this person
    TRANSIENT = "transient"  # Meta's side or the network: retry with backoff
    PERMANENT = "permanent"  # the request itself is refused: retrying cannot help


RATE_CODES = frozenset({130429, 131056, 80007, 4, 613})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004, 190, 0, 10, 200})
PAIR_RATE = 131056


@dataclass
class GraphError(Exception):
    code: int | None
    status: int

    def __str__(self) -> str:  # never the message: it may quote the person
        return f"Graph API error {self.code} (HTTP {self.status})"

    @property
    def kind(self) -> ErrorClass:
        return classify(self.code, self.status)


def classify(code: int | None, status: int = 400) -> ErrorClass:
    if code == 131047:
        return ErrorClass.WINDOW
    if code in RATE_CODES:
        return ErrorClass.RATE
    if code == 131026:
        return ErrorClass.UNREACHABLE
    if code in TRANSIENT_CODES or (code is None and (status >= 500 or status == 429)):
        return ErrorClass.TRANSIENT
    return ErrorClass.PERMANENT


def retry_seconds(code: int | None, attempt: int = 1) -> float:
    """How long to hold a person (131056: Meta says 4^X s) or the number (130429)."""
    if code == PAIR_RATE:
        return float(min(4**attempt, 64))
    return 1.0


class MediaTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"media of {size} bytes")
        self.size = size


class GraphClient:
    def __init__(
        self,
        token: str,
        phone_number_id: str,
        api_base: str = DEFAULT_API_BASE,
        *,
        timeout: float = 20.0,
        max_connections: int = 64,
    ) -> None:
        self.base = api_base.rstrip("/")
        self.phone_number_id = phone_number_id
        self._auth = {"Authorization": f"Bearer {token}"}
        self.http = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers=self._auth,
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, body: dict[str, Any]) -> str:
        """POST {base}/{phone_number_id}/messages; the new message's wamid."""
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
        response = await self.http.post(f"{self.base}/{self.phone_number_id}/messages", json=payload)
        data = _json_or_raise(response)
        messages = data.get("messages") if isinstance(data, dict) else None
        if not messages or not isinstance(messages[0], dict) or "id" not in messages[0]:
            raise GraphError(None, response.status_code)
        return str(messages[0]["id"])

    async def upload(self, data: bytes, mime: str, filename: str) -> str:
        """POST {base}/{phone_number_id}/media (multipart); the media id."""
        response = await self.http.post(
            f"{self.base}/{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime},
            files={"file": (filename, data, mime)},
        )
        found = _json_or_raise(response)
        if not isinstance(found, dict) or "id" not in found:
            raise GraphError(None, response.status_code)
        return str(found["id"])

    async def media_info(self, media_id: str) -> dict[str, Any]:
        """GET {base}/{media_id}: url (valid about 5 minutes), mime_type, sha256, file_size."""
        response = await self.http.get(f"{self.base}/{media_id}")
        found = _json_or_raise(response)
        if not isinstance(found, dict) or not isinstance(found.get("url"), str):
            raise GraphError(None, response.status_code)
        return found

    async def download(self, url: str, max_bytes: int) -> bytes:
        """GET the media URL (with the token, which Meta requires), stopping past ``max_bytes``."""
        async with self.http.stream("GET", url) as response:
            if response.status_code != 200:
                await response.aread()
                raise GraphError(_code_of(response), response.status_code)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise MediaTooLarge(int(declared))
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MediaTooLarge(size)
                chunks.append(chunk)
        return b"".join(chunks)


def _json_or_raise(response: httpx.Response) -> Any:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400 or (isinstance(data, dict) and "error" in data):
        raise GraphError(_code_of(response, data), response.status_code)
    return data


def _code_of(response: httpx.Response, data: Any = None) -> int | None:
    if data is None:
        try:
            data = response.json()
        except ValueError:
            return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None
