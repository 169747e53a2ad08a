"""Request-size limits enforced before a body reaches the application.

:class:`BodyLimitMiddleware` refuses a body longer than the route's limit with ``413`` and a
JSON message: at once when ``Content-Length`` says so, otherwise while it is received
(chunked uploads are counted). A body under the limit is buffered (it is small) and handed to
the application unchanged. Field limits (query length, ``k``, depth) are checked by the
request models and :func:`check_range`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rankstack.serve.config import Limits


def body_limit_for(limits: Limits) -> Callable[[str], int]:
    """The body limit of a path: ``/rerank`` carries texts and gets a larger one."""

    def limit(path: str) -> int:
        return limits.max_rerank_body_bytes if path == "/rerank" else limits.max_body_bytes

    return limit


async def send_error(send: Any, status: int, message: str) -> None:
    """Send a complete JSON error response ``{"error": message}``."""
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """ASGI middleware: bodies over the path's limit get 413 and never reach the app."""

    def __init__(self, app: Any, limit: Callable[[str], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_error(send, 413, _too_large(declared, limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_error(send, 413, _too_large(size, limit, partial=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, limit: int, partial: bool = False) -> str:
    got = f"more than {limit}" if partial else str(size)
    return f"request body too large: {got} bytes, the limit is {limit} bytes"


def check_range(name: str, value: int, low: int, high: int) -> str | None:
    """A message when ``value`` is outside ``[low, high]``, else ``None``."""
    if low <= value <= high:
        return None
    return f"{name} must be between {low} and {high}, found {value}"
