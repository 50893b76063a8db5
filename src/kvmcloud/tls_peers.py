"""PeerCertificateProtocol: uvicorn's h11 protocol handing the TLS client certificate to the app.

uvicorn verifies client certificates (``ssl.CERT_REQUIRED``) but does not tell the app
whose certificate it was. This protocol puts it in the ASGI scope as the ``tls``
extension's ``client_cert_chain`` (PEM, leaf first), which :func:`client_certificate`
reads; a route then checks the name in it (the management server, or the host that
heartbeats).
"""

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


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


def client_certificate(scope: Mapping[str, Any]) -> str | None:
    """Return the PEM of the connection's client certificate, if it presented one."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return str(chain[0]) if chain else None
