"""What the agent's and the server's listeners share: client certificates, capped bodies.

uvicorn verifies client certificates (``ssl.CERT_REQUIRED``) but does not tell the app
whose certificate it was. :class:`PeerCertificateProtocol` puts it in the ASGI scope as
the ``tls`` extension's ``client_cert_chain`` (PEM, leaf first), which
:func:`client_certificate` reads; a route then checks the name in it (the management
server, or the host that heartbeats). :func:`read_capped_body` reads a request body
only up to a route's cap.
"""

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol


class BodyTooLargeError(Exception):
    """A request body is over its route's cap; nothing past the cap was read."""


class PeerCertificateProtocol(H11Protocol):
    """H11Protocol whose app sees the verified client certificate of the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Record the peer's certificate (the handshake is complete by now)."""
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            pem = ssl.DER_cert_to_PEM_cert(der)
            inner = self.app

            async def app(scope: Any, receive: Any, send: Any) -> None:
                extensions = dict(scope.get("extensions") or {})
                extensions["tls"] = {"client_cert_chain": [pem]}
                await inner({**scope, "extensions": extensions}, receive, send)

            self.app = app

    def shutdown(self) -> None:
        """Close an idle kept-alive connection at once, else let its request finish.

        A graceful TLS close waits for the client's close_notify, up to 30 s, and an idle
        HTTP client reads nothing until its next request: a stopping server waited that
        long for every kept-alive connection (one per host on the agent listener). The
        client sees the connection closed and opens a new one for its next request.
        """
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
            return
        super().shutdown()


def client_certificate(scope: Mapping[str, Any]) -> str | None:
    """Return the PEM of the connection's client certificate, if it presented one."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return str(chain[0]) if chain else None


async def read_capped_body(request: Request, cap_bytes: int) -> bytes:
    """Read the body, refusing it unread when Content-Length already says it is too large.

    Raises:
        BodyTooLargeError: the body is larger than ``cap_bytes`` (HTTP 413).
    """
    declared = request.headers.get("content-length", "")
    # isdigit() alone also takes digits int() refuses, such as "²".
    if declared.isascii() and declared.isdigit() and int(declared) > cap_bytes:
        raise BodyTooLargeError(f"request body is larger than {cap_bytes} bytes")
    chunks: list[bytes] = []
    size_bytes = 0
    async for chunk in request.stream():
        size_bytes += len(chunk)
        if size_bytes > cap_bytes:
            raise BodyTooLargeError(f"request body is larger than {cap_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
