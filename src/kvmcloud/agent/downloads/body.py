"""BodyReader: a response body read straight from its socket, a whole buffer per call."""

import http.client
import io
import socket
import ssl
from collections.abc import Callable

# Below this many bytes wanted, the first read stays with http.client: draining its buffered
# reader with one readinto1() is only sure to leave it empty when the read asks for more
# than the reader's buffer (io.DEFAULT_BUFFER_SIZE, how http.client's makefile("rb") is
# built) on top of what it holds.
DIRECT_MIN_BYTES = max(64 * 1024, 2 * io.DEFAULT_BUFFER_SIZE)

# (count, buffer) -> bytes read into buffer; 0 at the end of the stream.
_Read = Callable[[int, memoryview], int]


class BodyReader:
    """Reads the body of ``response`` (sent on ``sock``) into the caller's buffers.

    http.client's ``readinto`` goes through a buffered reader, ``SocketIO`` and
    ``SSLSocket.recv_into``/``read``: three Python calls for every TLS record (16 KiB at
    most), which measured as about a quarter of the TLS read path's user time
    (docs/performance.md). A body with a Content-Length is read here instead straight from
    the socket: over TLS with the SSL object's ``read`` (one C call per record, the same
    OpenSSL read, timeouts and certificate-checked session as before), over plain TCP with
    ``recv_into``. Each :meth:`readinto` fills the whole buffer unless the body ends, so the
    caller hands on a full ring buffer at a time.

    Chunked bodies and bodies that run until the connection closes keep http.client's
    framing. The response's own length accounting is bypassed: once reading directly,
    only this object knows where the body ends, so every read of the body must go through
    it.
    """

    def __init__(self, response: http.client.HTTPResponse, sock: socket.socket) -> None:
        self._response = response
        self._sock = sock
        # Set once reading straight from the socket; from then on _remaining is the truth.
        self._direct: _Read | None = None
        self._remaining = 0
        self._drain: io.BufferedReader | None = None

    @property
    def direct(self) -> bool:
        """Whether the body is being read straight from the socket."""
        return self._direct is not None

    def readinto(self, buffer: memoryview) -> int:
        """Read the next bytes of the body into ``buffer``; 0 once the body has ended.

        Fills ``buffer`` unless the body ends first. A connection that closes early gives
        fewer bytes and then 0: the caller compares with the announced size. Raises what
        the socket raises (``TimeoutError``, ``ssl.SSLError``, ``OSError``) and, on the
        http.client path, ``http.client.IncompleteRead``.
        """
        read = self._direct
        if read is None:
            read = self._go_direct(len(buffer))
            if read is None:
                return self._response.readinto(buffer)
        want = min(len(buffer), self._remaining)
        if not want:
            return 0
        filled = 0
        if self._drain is not None:
            # What the header parsing buffered comes first. want exceeds the buffered
            # reader's own buffer, so readinto1 empties it (reading at most once more,
            # straight into ours): from here on the body comes only from the socket.
            filled = self._drain.readinto1(buffer[:want])
            self._drain = None
            if not filled:
                return 0  # the connection closed
        if filled < want:
            filled += _fill(read, buffer[filled:want])
        self._remaining -= filled
        return filled

    def _go_direct(self, size: int) -> _Read | None:
        """Switch to reading from the socket if this body and read allow it."""
        response = self._response
        length, fp = response.length, response.fp
        if response.chunked or length is None or fp is None:
            return None
        if min(size, length) < DIRECT_MIN_BYTES:
            # A small read (the end of a body, or a ring buffer almost full): http.client's
            # own, which keeps its length right for a later switch.
            return None
        self._direct = _read_call(self._sock)
        self._remaining = length
        self._drain = fp
        return self._direct


def _read_call(sock: socket.socket) -> _Read:
    """Return the cheapest call that reads up to n bytes of ``sock`` into a buffer."""
    if isinstance(sock, ssl.SSLSocket):
        # CPython's _ssl socket under the SSLSocket wrapper; its read is what
        # SSLSocket.read calls (GIL released around SSL_read, the socket's timeout kept).
        tls = getattr(sock, "_sslobj", None)
        if tls is not None:
            tls_read: _Read = tls.read
            return tls_read

    # Plain TCP (or an SSLSocket without its SSL object, which recv_into handles).
    def recv_into(count: int, buffer: memoryview) -> int:
        return sock.recv_into(buffer, count)

    return recv_into


def _fill(read: _Read, buffer: memoryview) -> int:
    """Read until ``buffer`` is full or the stream ends; return the count."""
    filled, want = 0, len(buffer)
    try:
        # Bounded: every pass reads at least one byte or ends the loop.
        while filled < want:
            count = read(want - filled, buffer[filled:])
            if not count:
                break
            filled += count
    except ssl.SSLEOFError:
        # A peer that closes without close_notify: what SSLSocket's suppress_ragged_eofs
        # turns into an end of stream. The bytes so far are good; the caller sees the
        # shortfall against Content-Length.
        pass
    return filled
