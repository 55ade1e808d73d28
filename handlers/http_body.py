"""Reading a request body with a cap, for every route that takes one (webhooks, the web chat's uploads)."""

from __future__ import annotations

from starlette.requests import Request


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None as soon as it is longer than ``cap``: a declared length over the cap is refused
    before reading, and a streamed body stops at the cap, so a large body is never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
