"""HttpDownloader: http(s) probe and fetch; the body streams via http.client readinto.

The bulk path deliberately uses :mod:`http.client` and ``readinto`` into one reused buffer:
httpx was measured 3-4x slower per GiB (architecture.md). Control calls elsewhere in the
agent use httpx; nothing here does.
"""

import http.client
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

import kvmcloud
from kvmcloud.agent.downloads.base import DownloadRequest, ImageSink, SourceInfo
from kvmcloud.agent.downloads.errors import (
    BadCommandError,
    DnsFailureError,
    DownloadCancelledError,
    DownloadError,
    DownloadTimeoutError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceUnavailableError,
    TlsFailureError,
    UnsupportedUrlError,
)
from kvmcloud.agent.downloads.image_header import (
    QCOW2_HEADER_PROBE_BYTES,
    parse_qcow2_virtual_size,
)

logger = logging.getLogger(__name__)

DEFAULT_BUFFER_SIZE_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HEAD_REJECTED_STATUSES = frozenset({405, 501})
REDIRECT_SETTING = "store.download.follow.redirects"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_CONTENT_RANGE_TOTAL = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", re.IGNORECASE)


def describe_url(url: str) -> str:
    """Return ``url`` fit for messages and logs: any ``user:password@`` is masked.

    A regular expression rather than urlsplit(), so that it works on malformed URLs too.
    """
    return _USERINFO.sub(r"\1***@", url)


def parse_content_range_total(value: str | None) -> int | None:
    """Return the complete length from ``Content-Range: bytes 0-0/1234``; None if unknown."""
    match = _CONTENT_RANGE_TOTAL.match(value.strip()) if value else None
    return int(match.group(1)) if match else None


def parse_content_length(value: str | None) -> int | None:
    """Return a Content-Length header as an int; None when absent or malformed."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    parts: SplitResult
    host: str
    port: int

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.parts.scheme, self.host.lower(), self.port)

    @property
    def request_target(self) -> str:
        path = self.parts.path or "/"
        return f"{path}?{self.parts.query}" if self.parts.query else path


def _parse_target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsupportedUrlError(f"malformed URL {describe_url(url)}: {exc}") from exc
    if parts.scheme not in SCHEMES:
        raise UnsupportedUrlError(
            f"URL scheme {parts.scheme!r} is not handled by the HTTP downloader: "
            f"{describe_url(url)}"
        )
    if not parts.hostname:
        raise UnsupportedUrlError(f"URL has no host: {describe_url(url)}")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsupportedUrlError(f"URL contains whitespace or control characters: {url!r}")
    return _Target(url, parts, parts.hostname, port or _DEFAULT_PORTS[parts.scheme])


def _check_headers(headers: Mapping[str, str]) -> None:
    # http.client would reject these too, but its error repeats the value, which may be
    # a secret, so check first and name only the header.
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise BadCommandError(f"request header name {name!r} is not a valid HTTP token")
        if any(ch in value for ch in "\r\n\0"):
            raise BadCommandError(f"request header {name!r} has a value with CR, LF or NUL")


@contextmanager
def _network_errors(target: _Target) -> Iterator[None]:
    """Translate socket, TLS and HTTP-parsing exceptions into DownloadErrors."""
    url = describe_url(target.url)
    try:
        yield
    except DownloadError:
        raise
    except socket.gaierror as exc:
        raise DnsFailureError(f"cannot resolve host {target.host!r} of {url}: {exc}") from exc
    except ssl.SSLError as exc:
        raise TlsFailureError(
            f"TLS failure with {target.host}:{target.port} for {url}: {exc}"
        ) from exc
    except TimeoutError as exc:
        raise DownloadTimeoutError(
            f"timed out talking to {target.host}:{target.port} for {url}"
        ) from exc
    except ConnectionRefusedError as exc:
        raise SourceUnavailableError(
            f"connection refused by {target.host}:{target.port} for {url}"
        ) from exc
    except http.client.HTTPException as exc:
        raise SourceUnavailableError(
            f"bad HTTP response from {url}: {type(exc).__name__} {exc}"
        ) from exc
    except OSError as exc:
        raise SourceUnavailableError(f"network error talking to {url}: {exc}") from exc


@dataclass(slots=True)
class _Exchange:
    """One request's connection, socket and response; ``close()`` releases all three."""

    target: _Target
    connection: http.client.HTTPConnection
    sock: socket.socket
    response: http.client.HTTPResponse

    def close(self) -> None:
        self.response.close()
        self.connection.close()
        self.sock.close()


class HttpDownloader:
    """Downloads ``http://`` (and ``https://``) URLs; one instance serves many threads."""

    def __init__(
        self,
        *,
        buffer_size_bytes: int = DEFAULT_BUFFER_SIZE_BYTES,
        ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if buffer_size_bytes <= 0:
            raise ValueError("buffer_size_bytes must be positive")
        self._buffer_size_bytes = buffer_size_bytes
        self._ssl_context = ssl_context
        self._clock = clock
        self._user_agent = f"kvmcloud-agent/{kvmcloud.__version__}"

    def probe(self, request: DownloadRequest) -> SourceInfo:
        """Check the URL with HEAD (ranged GET if HEAD is refused) and learn its sizes."""
        deadline = self._clock() + request.timeouts.total_s
        wants_header = request.image_format.upper() == "QCOW2"
        exchange = self._open(request, "HEAD", {}, deadline)
        try:
            head_refused = exchange.response.status in HEAD_REJECTED_STATUSES
            if not head_refused:
                _raise_for_status(exchange)
            physical_size = parse_content_length(exchange.response.getheader("Content-Length"))
        finally:
            exchange.close()
        header = b""
        if head_refused or wants_header or physical_size is None:
            # One small ranged GET serves every remaining need: a server that refuses HEAD,
            # a HEAD without Content-Length (the GET's Content-Range has the total), and
            # the qcow2 header.
            if head_refused:
                logger.info("HEAD refused by %s; probing with GET", describe_url(request.url))
            size_hint = QCOW2_HEADER_PROBE_BYTES if wants_header else 1
            header, total = self._read_prefix(request, size_hint, deadline)
            if head_refused or physical_size is None:
                physical_size = total
        virtual_size = physical_size
        if wants_header:
            virtual_size = parse_qcow2_virtual_size(header)
            if virtual_size is None:
                # Not fatal here: the image may be compressed, and qemu-img has the last
                # word once the bytes are on disk.
                logger.info("no qcow2 header at %s", describe_url(request.url))
        return SourceInfo(physical_size_bytes=physical_size, virtual_size_bytes=virtual_size)

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        """Stream the body into ``sink``, reporting progress in the same pass."""
        deadline = self._clock() + request.timeouts.total_s
        exchange = self._open(request, "GET", {}, deadline)
        try:
            _raise_for_status(exchange)
            total = parse_content_length(exchange.response.getheader("Content-Length"))
            request.progress(0, total)
            self._copy_body(exchange, request, sink, total, deadline)
        finally:
            exchange.close()
        done = sink.received_bytes
        if total is not None and done < total:
            raise SourceUnavailableError(
                f"short body from {describe_url(exchange.target.url)}: the connection closed "
                f"after {done} of {total} bytes"
            )
        logger.info("fetched %d bytes from %s", done, describe_url(exchange.target.url))

    def _copy_body(
        self,
        exchange: _Exchange,
        request: DownloadRequest,
        sink: ImageSink,
        total: int | None,
        deadline: float,
    ) -> None:
        buffer = bytearray(self._buffer_size_bytes)
        view = memoryview(buffer)
        url = describe_url(exchange.target.url)
        # Bounded: every pass reads > 0 bytes or ends; the deadline bounds the total.
        while True:
            if request.cancel.is_set():
                raise DownloadCancelledError(
                    f"download of {url} cancelled after {sink.received_bytes} bytes"
                )
            if exchange.response.isclosed():
                # http.client closes the socket itself once Content-Length bytes are in.
                return
            exchange.sock.settimeout(
                self._operation_timeout_s(request.timeouts.read_s, deadline, exchange.target)
            )
            with _network_errors(exchange.target):
                count = exchange.response.readinto(buffer)
            if count == 0:
                return
            # Outside _network_errors: the sink's errors (the pool's ENOSPC, a corrupt
            # compressed stream) are not network errors and the engine classifies them.
            sink.write(view[:count])
            request.progress(sink.received_bytes, total)

    def _read_prefix(
        self, request: DownloadRequest, size_bytes: int, deadline: float
    ) -> tuple[bytes, int | None]:
        """GET the first ``size_bytes`` (ranged if possible); return them and the full size."""
        headers = {"Range": f"bytes=0-{size_bytes - 1}"}
        exchange = self._open(request, "GET", headers, deadline)
        try:
            _raise_for_status(exchange)
            response = exchange.response
            if response.status == 206:
                total = parse_content_range_total(response.getheader("Content-Range"))
            else:
                total = parse_content_length(response.getheader("Content-Length"))
            with _network_errors(exchange.target):
                # A server that ignored Range sends everything: read what we need and close.
                prefix = response.read(size_bytes)
        finally:
            exchange.close()
        return prefix, total

    def _open(
        self,
        request: DownloadRequest,
        method: str,
        extra_headers: Mapping[str, str],
        deadline: float,
    ) -> _Exchange:
        """Send the request, following redirects only as allowed; return the final exchange."""
        _check_headers(request.headers)
        first = _parse_target(request.url)
        target = first
        for _ in range(MAX_REDIRECTS + 1):
            # The command's headers may hold credentials: they go only to the origin they
            # were configured for, never to wherever a redirect points (as curl does).
            command_headers = request.headers if target.origin == first.origin else {}
            headers = {
                "User-Agent": self._user_agent,
                "Connection": "close",
                **command_headers,
                **extra_headers,
            }
            exchange = self._send(target, method, headers, request, deadline)
            status = exchange.response.status
            if status not in REDIRECT_STATUSES:
                return exchange
            location = exchange.response.getheader("Location")
            reason = exchange.response.reason
            exchange.close()
            target = _redirect_target(target, status, reason, location, request.follow_redirects)
        raise SourceUnavailableError(
            f"more than {MAX_REDIRECTS} redirects from {describe_url(request.url)}"
        )

    def _send(
        self,
        target: _Target,
        method: str,
        headers: Mapping[str, str],
        request: DownloadRequest,
        deadline: float,
    ) -> _Exchange:
        connection = self._connect(
            target.parts.scheme,
            target.host,
            target.port,
            self._operation_timeout_s(request.timeouts.connect_s, deadline, target),
        )
        try:
            with _network_errors(target):
                connection.connect()
                sock = connection.sock
                assert sock is not None  # connect() either sets it or raises
                sock.settimeout(
                    self._operation_timeout_s(request.timeouts.read_s, deadline, target)
                )
                connection.request(method, target.request_target, headers=dict(headers))
                response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        return _Exchange(target, connection, sock, response)

    def _connect(
        self, scheme: str, host: str, port: int, timeout_s: float
    ) -> http.client.HTTPConnection:
        """Create an unconnected connection for ``scheme`` (the one place schemes differ)."""
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=timeout_s, context=self._ssl_context()
            )
        return http.client.HTTPConnection(host, port, timeout=timeout_s)

    def _operation_timeout_s(self, limit_s: float, deadline: float, target: _Target) -> float:
        remaining_s = deadline - self._clock()
        if remaining_s <= 0:
            raise DownloadTimeoutError(
                f"transfer from {describe_url(target.url)} exceeded its total time limit"
            )
        return min(limit_s, remaining_s)


def _redirect_target(
    current: _Target, status: int, reason: str, location: str | None, follow: bool
) -> _Target:
    where = f"HTTP {status} {reason} from {describe_url(current.url)}"
    if not location:
        raise SourceUnavailableError(f"{where} has no Location header")
    next_url = urljoin(current.url, location)
    if not follow:
        raise SourceUnavailableError(
            f"{where} redirects to {describe_url(next_url)}; redirects are not followed "
            f"for this template ({REDIRECT_SETTING} is false)"
        )
    next_scheme = urlsplit(next_url).scheme
    if next_scheme != current.parts.scheme:
        raise SourceUnavailableError(
            f"{where} redirects to another scheme ({describe_url(next_url)}); refused"
        )
    logger.info("following %s to %s", where, describe_url(next_url))
    return _parse_target(next_url)


def _raise_for_status(exchange: _Exchange) -> None:
    status, reason = exchange.response.status, exchange.response.reason
    if 200 <= status < 300:
        return
    message = f"HTTP {status} {reason} from {describe_url(exchange.target.url)}"
    if status in (404, 410):
        raise SourceNotFoundError(message)
    if status in (401, 403):
        raise SourceDeniedError(message)
    raise SourceUnavailableError(message)
