"""PeerFetcher: read a peer agent's verified copy (``POST /peer-files/read``) into a sink.

The peer is another agent of the zone, reached over the agents' mutual TLS: this agent
presents the certificate the server's CA issued it and trusts only that CA (the peer's
certificate names its address, as the server's connections to agents check). The request
body is the server's signed grant; the peer checks it with its own host key. The bytes are
the copy as it lies on the peer's pool; the caller verifies them as a whole against the
digest the server recorded, exactly as for the origin.
"""

import ssl
import time
from collections.abc import Callable

import httpx

from kvmcloud.agent.downloads.base import DownloadRequest, ImageSink
from kvmcloud.agent.downloads.errors import (
    DownloadCancelledError,
    DownloadTimeoutError,
    SourceUnavailableError,
    TlsFailureError,
)
from kvmcloud.protocol.agent_messages import PeerSource, to_json

PEER_READ_PATH = "/peer-files/read"
CHUNK_BYTES = 1024 * 1024


class PeerFetcher:
    """Sends a peer's copy into an ImageSink, continuing from ``sink.received_bytes``.

    Holds no per-transfer state: one instance serves every download thread. The TLS
    context is asked for at each transfer (it changes in place when the certificate is
    renewed).
    """

    def __init__(
        self,
        tls_context: Callable[[], ssl.SSLContext],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tls_context = tls_context
        self._clock = clock

    def fetch(self, peer: PeerSource, request: DownloadRequest, sink: ImageSink) -> None:
        """Send the peer's copy into ``sink`` up to its end (one connection, no retry).

        A broken transfer is not resumed here: the caller moves on to the next source,
        which continues from ``sink.received_bytes``.

        Raises:
            DownloadCancelledError: ``request.cancel`` was set.
            SourceUnavailableError: the peer refused (grant, busy, no such copy), cannot be
                reached, or the body broke off.
            TlsFailureError: the TLS handshake failed (not this zone's CA).
            DownloadTimeoutError: the peer stalled.
            OSError, ImageRejectedError: raised by ``sink``.
        """
        size = peer.grant.size_bytes
        start = sink.received_bytes
        headers = {"Content-Type": "application/json"}
        if start:
            headers["Range"] = f"bytes={start}-"
        timeouts = request.timeouts
        timeout = httpx.Timeout(
            connect=timeouts.connect_s, read=timeouts.read_s, write=timeouts.read_s, pool=None
        )
        where = f"peer {peer.host_uuid} ({peer.url})"
        try:
            with (
                httpx.Client(verify=self._tls_context(), timeout=timeout) as client,
                client.stream(
                    "POST",
                    peer.url.rstrip("/") + PEER_READ_PATH,
                    content=to_json(peer.grant),
                    headers=headers,
                ) as response,
            ):
                if response.status_code not in (200, 206):
                    response.read()
                    raise SourceUnavailableError(
                        f"{where} answered HTTP {response.status_code}: {response.text[:200]}"
                    )
                if start and response.status_code == 200:
                    sink.restart()
                request.progress(sink.received_bytes, size)
                for chunk in response.iter_raw(CHUNK_BYTES):
                    if request.cancel.is_set():
                        raise DownloadCancelledError(f"download from {where} cancelled")
                    sink.write(chunk)
                    request.progress(sink.received_bytes, size)
        except ssl.SSLError as exc:
            raise TlsFailureError(f"TLS with {where} failed: {exc}") from exc
        except httpx.ConnectError as exc:
            if isinstance(exc.__cause__, ssl.SSLError) or "SSL" in str(exc):
                raise TlsFailureError(f"TLS with {where} failed: {exc}") from exc
            raise SourceUnavailableError(f"cannot connect to {where}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise DownloadTimeoutError(f"{where} stalled: {exc}") from exc
        except httpx.HTTPError as exc:
            raise SourceUnavailableError(f"transfer from {where} broke off: {exc}") from exc
        if sink.received_bytes != size:
            raise SourceUnavailableError(
                f"{where} sent {sink.received_bytes} of {size} bytes before closing"
            )
