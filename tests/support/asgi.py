"""Drive an ASGI app with one request whose body is counted as the app reads it.

Used to prove a route refuses a request before reading its body: ``chunks_read`` says how
many body chunks the app asked for.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio


@dataclass
class AsgiResult:
    """The answer to one request and how much of its body the app consumed."""

    status: int = 0
    body: bytes = b""
    chunks_read: int = 0
    bytes_read: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def post(
    app: Any,
    path: str,
    *,
    headers: dict[str, str],
    chunks: Iterable[bytes],
    content_length: int | None = None,
) -> AsgiResult:
    """POST ``chunks`` (lazily, one per receive) to ``path`` and return what happened."""
    result = AsgiResult()
    pending = iter(chunks)
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if content_length is not None:
        raw_headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8250),
    }

    async def receive() -> dict[str, Any]:
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        result.chunks_read += 1
        result.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    async def run() -> None:
        await app(scope, receive, send)

    anyio.run(run)
    return result
