"""HttpDownloader: http(s) probe and fetch with TLS trust, timeouts and resume (readinto).

The bulk path deliberately uses :mod:`http.client` for the request and headers, and reads
the body straight from the socket (BodyReader) into large reused buffers (the engine
sink's own ring when it lends it): httpx was measured 3-4x slower per GiB
(architecture.md, docs/performance.md). Control calls elsewhere in the agent use httpx;
nothing here does.
"""

import functools
import http.client
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import SplitResult, urljoin, urlsplit

import kvmcloud
from kvmcloud.agent.downloads.base import (
    BufferedImageSink,
    DownloadRequest,
    ImageSink,
    SourceInfo,
)
from kvmcloud.agent.downloads.body import BodyReader
from kvmcloud.agent.downloads.egress import Resolver, allowed_addresses, resolve_host
from kvmcloud.agent.downloads.errors import (
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
from kvmcloud.agent.downloads.ranges import (
    continues_at,
    parse_content_range,
    resume_headers,
    resume_validator,
)
from kvmcloud.agent.downloads.tls import TrustStore, describe_tls_error
from kvmcloud.agent.errors import BadCommandError
from kvmcloud.protocol.redaction import redact_url

logger = logging.getLogger(__name__)

DEFAULT_BUFFER_SIZE_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 5
# A broken transfer reconnects and continues; it gives up after this many reconnects in a
# row that brought no new byte, or this many in all.
MAX_RECONNECTS_WITHOUT_PROGRESS = 5
MAX_RECONNECTS = 50
# The pause before reconnecting doubles with each fruitless attempt, up to the maximum.
RECONNECT_PAUSE_S = 0.5
MAX_RECONNECT_PAUSE_S = 8.0
SCHEMES = ("http", "https")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HEAD_REJECTED_STATUSES = frozenset({405, 501})
REDIRECT_SETTING = "store.download.follow.redirects"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTENT_RANGE_TOTAL = re.compile(r"bytes\s+(?:\d+-\d+|\*)/(\d+)\s*$", re.IGNORECASE)


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
        # Not the parser's text: it quotes the port, which may be a password cut at a "/".
        raise UnsupportedUrlError(
            f"malformed URL {redact_url(url)}: its host or port cannot be parsed"
        ) from exc
    if parts.scheme not in SCHEMES:
        raise UnsupportedUrlError(
            f"URL scheme {parts.scheme!r} is not handled by the HTTP downloader: {redact_url(url)}"
        )
    if not parts.hostname:
        raise UnsupportedUrlError(f"URL has no host: {redact_url(url)}")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UnsupportedUrlError(
            f"URL contains whitespace or control characters: {redact_url(url)!r}"
        )
    return _Target(url, parts, parts.hostname, port or _DEFAULT_PORTS[parts.scheme])


def _check_headers(headers: Mapping[str, str]) -> None:
    # http.client would reject these too, but its error repeats the value, which may be
    # a secret, so check first and name only the header.
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise BadCommandError(f"request header name {name!r} is not a valid HTTP token")
        if any(ch in value for ch in "\r\n\0"):
            raise BadCommandError(f"request header {name!r} has a value with CR, LF or NUL")


class _Phase(Enum):
    """Which wait timed out: each has its own limit and its own message."""

    CONNECT = "connect"
    REQUEST = "request"
    BODY = "body"


@dataclass(slots=True)
class _Transfer:
    """One probe or fetch call: its request, its deadline and its TLS context."""

    request: DownloadRequest
    deadline: float
    clock: Callable[[], float]
    trust: TrustStore
    _ssl_context: ssl.SSLContext | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return redact_url(self.request.url)

    def ssl_context(self) -> ssl.SSLContext:
        # Built once per transfer (reconnects reuse it): the store is re-read per transfer.
        if self._ssl_context is None:
            self._ssl_context = self.trust.ssl_context()
        return self._ssl_context

    def expired(self) -> bool:
        return self.clock() >= self.deadline

    def timeout_s(self, limit_s: float) -> float:
        """Return how long the next wait may take: its own limit, within the deadline."""
        remaining_s = self.deadline - self.clock()
        if remaining_s <= 0:
            raise self.deadline_error()
        return min(limit_s, remaining_s)

    def deadline_error(self) -> DownloadTimeoutError:
        return DownloadTimeoutError(
            f"transfer from {self.url} exceeded its total time limit of "
            f"{self.request.timeouts.total_s:g} s"
        )

    def timeout_message(self, phase: _Phase, target: "_Target") -> str:
        timeouts = self.request.timeouts
        where = f"{target.host}:{target.port} for {redact_url(target.url)}"
        if phase is _Phase.CONNECT:
            return f"connecting to {where} timed out after {timeouts.connect_s:g} s"
        if phase is _Phase.REQUEST:
            return f"no response from {where} within {timeouts.request_s:g} s of the request"
        return f"no data for {timeouts.read_s:g} s from {where}"


@contextmanager
def _network_errors(target: "_Target", transfer: _Transfer, phase: _Phase) -> Iterator[None]:
    """Translate socket, TLS and HTTP-parsing exceptions into DownloadErrors."""
    url = redact_url(target.url)
    try:
        yield
    except DownloadError:
        raise
    except socket.gaierror as exc:
        raise DnsFailureError(f"cannot resolve host {target.host!r} of {url}: {exc}") from exc
    except ssl.SSLError as exc:
        if phase is _Phase.BODY:
            # Past the handshake, a TLS error is a connection breaking, not a trust issue.
            raise SourceUnavailableError(
                f"TLS connection to {target.host}:{target.port} broke while receiving {url}: "
                f"{exc.reason or exc}"
            ) from exc
        raise TlsFailureError(
            describe_tls_error(exc, host=target.host, port=target.port, url=url)
        ) from exc
    except TimeoutError as exc:
        if transfer.expired():
            raise transfer.deadline_error() from exc
        raise DownloadTimeoutError(transfer.timeout_message(phase, target)) from exc
    except ConnectionRefusedError as exc:
        raise SourceUnavailableError(
            f"connection refused by {target.host}:{target.port} for {url}"
        ) from exc
    except http.client.IncompleteRead as exc:
        raise SourceUnavailableError(
            f"the connection to {target.host}:{target.port} closed in the middle of the body "
            f"of {url}"
        ) from exc
    except http.client.HTTPException as exc:
        # Only the kind: the exception's text repeats what the source sent (a status line).
        raise SourceUnavailableError(f"bad HTTP response from {url}: {type(exc).__name__}") from exc
    except OSError as exc:
        raise SourceUnavailableError(f"network error talking to {url}: {exc}") from exc


@dataclass(slots=True)
class _Exchange:
    """One request's connection, socket and response; ``close()`` releases all three."""

    target: _Target
    connection: http.client.HTTPConnection
    sock: socket.socket
    response: http.client.HTTPResponse

    def header(self, name: str) -> str | None:
        return self.response.getheader(name)

    def close(self) -> None:
        self.response.close()
        self.connection.close()
        self.sock.close()


@dataclass(slots=True)
class _Body:
    """A response whose body goes into the sink, the whole object's size, and its validator.

    The validator (strong ETag or Last-Modified) lets a broken transfer continue with
    If-Range.
    """

    exchange: _Exchange
    total: int | None
    validator: str | None


class _InterruptedError(Exception):
    """The body stopped coming (reset, short body, stall): reconnecting may continue it."""

    def __init__(self, error: DownloadError) -> None:
        super().__init__(str(error))
        self.error = error


class HttpDownloader:
    """Downloads ``http://`` and ``https://`` URLs; one instance serves many threads.

    HTTPS trusts ``trust`` (the system CAs, plus the agent's certificate store when one is
    given), always checks the host name, and fails closed with ``TlsFailureError`` saying
    what was wrong. ``reconnect_pause_s`` is the first pause before reconnecting a broken
    transfer (tests make it short).

    Before every connection (each redirect hop, each reconnect) the host is resolved with
    ``resolve`` and checked with the request's egress policy; the connection goes to the
    checked addresses while TLS (SNI, certificate name) and ``Host`` keep the URL's name.
    """

    def __init__(
        self,
        *,
        buffer_size_bytes: int = DEFAULT_BUFFER_SIZE_BYTES,
        trust: TrustStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        reconnect_pause_s: float = RECONNECT_PAUSE_S,
        resolve: Resolver = resolve_host,
    ) -> None:
        if buffer_size_bytes <= 0:
            raise ValueError("buffer_size_bytes must be positive")
        if reconnect_pause_s < 0:
            raise ValueError("reconnect_pause_s must not be negative")
        self._buffer_size_bytes = buffer_size_bytes
        self._trust = trust if trust is not None else TrustStore()
        self._clock = clock
        self._reconnect_pause_s = reconnect_pause_s
        self._resolve = resolve
        self._user_agent = f"kvmcloud-agent/{kvmcloud.__version__}"

    @property
    def trust(self) -> TrustStore:
        """What HTTPS transfers trust."""
        return self._trust

    def probe(self, request: DownloadRequest) -> SourceInfo:
        """Check the URL with HEAD (ranged GET if HEAD is refused) and learn its sizes."""
        transfer = self._transfer(request)
        wants_header = request.image_format.upper() == "QCOW2"
        exchange = self._open(transfer, "HEAD", {})
        try:
            head_refused = exchange.response.status in HEAD_REJECTED_STATUSES
            if not head_refused:
                _raise_for_status(exchange)
            physical_size = parse_content_length(exchange.header("Content-Length"))
            content_type = _media_type(exchange.header("Content-Type"))
        finally:
            exchange.close()
        header = b""
        if head_refused or wants_header or physical_size is None:
            # One small ranged GET serves every remaining need: a server that refuses HEAD,
            # a HEAD without Content-Length (the GET's Content-Range has the total), and
            # the qcow2 header.
            if head_refused:
                logger.info("HEAD refused by %s; probing with GET", transfer.url)
            size_hint = QCOW2_HEADER_PROBE_BYTES if wants_header else 1
            header, total, get_content_type = self._read_prefix(transfer, size_hint)
            if head_refused or physical_size is None:
                physical_size = total
            if head_refused or content_type is None:
                content_type = get_content_type
        virtual_size = physical_size
        if wants_header:
            virtual_size = parse_qcow2_virtual_size(header)
            if virtual_size is None:
                # Not fatal here: the image may be compressed, and qemu-img has the last
                # word once the bytes are on disk.
                logger.info("no qcow2 header at %s", transfer.url)
        return SourceInfo(
            physical_size_bytes=physical_size,
            virtual_size_bytes=virtual_size,
            content_type=content_type,
        )

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        """Stream the body into ``sink``; reconnect and continue if it breaks (see Downloader)."""
        transfer = self._transfer(request)
        # A sink that lends its buffers needs none of ours.
        lends = isinstance(sink, BufferedImageSink)
        buffer = bytearray(0 if lends else self._buffer_size_bytes)
        # The caller vouches for bytes already in the sink: continue without If-Range.
        first = self._start(transfer, sink, validator=None, total=None)
        validator, total = first.validator, first.total
        body: _Body | None = first
        fruitless = 0
        # Bounded: every pass ends the transfer or uses up one of MAX_RECONNECTS.
        for reconnects in range(MAX_RECONNECTS + 1):
            received_before = sink.received_bytes
            try:
                if body is None:
                    body = self._reconnect(transfer, sink, validator, total)
                    validator, total = body.validator, body.total
                self._copy_body(transfer, body, sink, buffer)
                logger.info("fetched %d bytes from %s", sink.received_bytes, transfer.url)
                return
            except _InterruptedError as interruption:
                error = interruption.error
            finally:
                if body is not None:
                    body.exchange.close()
                body = None
            fruitless = 0 if sink.received_bytes > received_before else fruitless + 1
            if fruitless > MAX_RECONNECTS_WITHOUT_PROGRESS or reconnects == MAX_RECONNECTS:
                raise type(error)(f"{error}; gave up after {reconnects} reconnects") from error
            logger.warning(
                "transfer from %s broke after %d bytes (%s); reconnecting",
                transfer.url,
                sink.received_bytes,
                error,
            )
            self._pause(transfer, fruitless)
        raise AssertionError("unreachable: the loop returns or raises")

    def _transfer(self, request: DownloadRequest) -> _Transfer:
        _check_headers(request.headers)
        return _Transfer(
            request=request,
            deadline=self._clock() + request.timeouts.total_s,
            clock=self._clock,
            trust=self._trust,
        )

    def _start(
        self, transfer: _Transfer, sink: ImageSink, *, validator: str | None, total: int | None
    ) -> _Body:
        """Ask for the object from ``sink.received_bytes``; restart the sink if it must.

        With bytes in the sink, a ranged GET (with ``If-Range`` when there is a validator)
        continues on a 206 whose Content-Range starts there; any other success (200, or a
        206 for another range) means the sink starts again from byte 0.
        """
        offset = sink.received_bytes
        if offset:
            exchange = self._open(transfer, "GET", resume_headers(offset, validator))
            status = exchange.response.status
            content_range = parse_content_range(exchange.header("Content-Range"))
            if status == 206 and continues_at(content_range, offset, total):
                assert content_range is not None  # continues_at() checked it
                logger.info("continuing %s from byte %d", transfer.url, offset)
                return self._body(transfer, exchange, offset, content_range.complete_length)
            if status == 200:
                logger.info("%s sent the whole object again; starting over", transfer.url)
                try:
                    sink.restart()
                except BaseException:
                    exchange.close()
                    raise
                return self._body(transfer, exchange, 0, None)
            exchange.close()
            if 200 <= status < 300 or status == 416:
                logger.info(
                    "%s answered the range request with HTTP %d; starting over",
                    transfer.url,
                    status,
                )
            else:
                _raise_for_status(exchange)
            sink.restart()
        exchange = self._open(transfer, "GET", {})
        return self._body(transfer, exchange, 0, None)

    def _body(
        self, transfer: _Transfer, exchange: _Exchange, offset: int, total: int | None
    ) -> _Body:
        """Check the response and report the size; ``total`` None: from Content-Length."""
        try:
            _raise_for_status(exchange)
            if total is None:
                length = parse_content_length(exchange.header("Content-Length"))
                total = None if length is None else offset + length
            validator = resume_validator(exchange.header("ETag"), exchange.header("Last-Modified"))
            transfer.request.progress(offset, total)
        except BaseException:
            exchange.close()
            raise
        return _Body(exchange, total, validator)

    def _reconnect(
        self, transfer: _Transfer, sink: ImageSink, validator: str | None, total: int | None
    ) -> _Body:
        if sink.received_bytes and validator is None:
            # Nothing can prove the object is unchanged: never splice two versions.
            logger.info("%s gave no ETag or Last-Modified; starting over", transfer.url)
            sink.restart()
        try:
            return self._start(transfer, sink, validator=validator, total=total)
        except (SourceUnavailableError, DownloadTimeoutError) as exc:
            if transfer.expired():
                raise transfer.deadline_error() from exc
            raise _InterruptedError(exc) from exc

    def _pause(self, transfer: _Transfer, fruitless: int) -> None:
        pause_s = min(self._reconnect_pause_s * 2 ** max(0, fruitless - 1), MAX_RECONNECT_PAUSE_S)
        if transfer.request.cancel.wait(transfer.timeout_s(pause_s)):
            raise DownloadCancelledError(f"download of {transfer.url} cancelled")

    def _copy_body(
        self, transfer: _Transfer, body: _Body, sink: ImageSink, buffer: bytearray
    ) -> None:
        """Copy the body into the sink until it ends; raise _InterruptedError if it breaks."""
        request, exchange = transfer.request, body.exchange
        view = memoryview(buffer)
        lender = sink if isinstance(sink, BufferedImageSink) else None
        # Straight from the socket (one C call per TLS record), a whole buffer per read.
        reader = BodyReader(exchange.response, exchange.sock)
        # Bounded: every pass reads > 0 bytes or ends; the deadline bounds the total.
        while True:
            if request.cancel.is_set():
                raise DownloadCancelledError(
                    f"download of {transfer.url} cancelled after {sink.received_bytes} bytes"
                )
            if not reader.direct and exchange.response.isclosed():
                # http.client closes the socket itself once Content-Length bytes are in.
                break
            exchange.sock.settimeout(transfer.timeout_s(request.timeouts.read_s))
            # The engine's sink lends its ring buffers: the body lands where it is hashed
            # and written from, with no copy. Its errors (the pool's ENOSPC, a corrupt
            # compressed stream) are not network errors and are never retried: they stay
            # outside _network_errors.
            # At most buffer_size_bytes per read either way: how often cancel is checked.
            target = view if lender is None else lender.buffer()[: self._buffer_size_bytes]
            try:
                with _network_errors(exchange.target, transfer, _Phase.BODY):
                    count = reader.readinto(target)
            except (SourceUnavailableError, DownloadTimeoutError) as exc:
                if transfer.expired():
                    raise
                raise _InterruptedError(exc) from exc
            if count == 0:
                break
            if lender is None:
                sink.write(view[:count])
            else:
                lender.commit(count)
            request.progress(sink.received_bytes, body.total)
        if body.total is not None and sink.received_bytes < body.total:
            raise _InterruptedError(
                SourceUnavailableError(
                    f"short body from {redact_url(exchange.target.url)}: the connection "
                    f"closed after {sink.received_bytes} of {body.total} bytes"
                )
            )

    def _read_prefix(
        self, transfer: _Transfer, size_bytes: int
    ) -> tuple[bytes, int | None, str | None]:
        """GET the first ``size_bytes`` (ranged if possible) and the full size and type."""
        headers = {"Range": f"bytes=0-{size_bytes - 1}"}
        exchange = self._open(transfer, "GET", headers)
        try:
            _raise_for_status(exchange)
            response = exchange.response
            if response.status == 206:
                total = parse_content_range_total(exchange.header("Content-Range"))
            else:
                total = parse_content_length(exchange.header("Content-Length"))
            content_type = _media_type(exchange.header("Content-Type"))
            exchange.sock.settimeout(transfer.timeout_s(transfer.request.timeouts.read_s))
            with _network_errors(exchange.target, transfer, _Phase.BODY):
                # A server that ignored Range sends everything: read what we need and close.
                prefix = response.read(size_bytes)
        finally:
            exchange.close()
        return prefix, total, content_type

    def _open(
        self, transfer: _Transfer, method: str, extra_headers: Mapping[str, str]
    ) -> _Exchange:
        """Send the request, following redirects only as allowed; return the final exchange."""
        request = transfer.request
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
            exchange = self._send(transfer, target, method, headers)
            status = exchange.response.status
            if status not in REDIRECT_STATUSES:
                return exchange
            location = exchange.header("Location")
            exchange.close()
            # The next hop is checked against the egress policy when _send connects to it.
            target = _redirect_target(target, status, location, request.follow_redirects)
        raise SourceUnavailableError(f"more than {MAX_REDIRECTS} redirects from {transfer.url}")

    def _send(
        self, transfer: _Transfer, target: _Target, method: str, headers: Mapping[str, str]
    ) -> _Exchange:
        timeouts = transfer.request.timeouts
        with _network_errors(target, transfer, _Phase.CONNECT):
            addresses = allowed_addresses(
                transfer.request.egress,
                target.host,
                url=redact_url(target.url),
                resolve=self._resolve,
            )
        connection = self._connection(
            transfer, target, addresses, transfer.timeout_s(timeouts.connect_s)
        )
        try:
            with _network_errors(target, transfer, _Phase.CONNECT):
                # For https this includes the TLS handshake and certificate checks.
                connection.connect()
            sock = connection.sock
            assert sock is not None  # connect() either sets it or raises
            sock.settimeout(transfer.timeout_s(timeouts.request_s))
            with _network_errors(target, transfer, _Phase.REQUEST):
                connection.request(method, target.request_target, headers=dict(headers))
                response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        return _Exchange(target, connection, sock, response)

    def _connection(
        self, transfer: _Transfer, target: _Target, addresses: Sequence[str], timeout_s: float
    ) -> http.client.HTTPConnection:
        """Create an unconnected connection for the target's scheme, to ``addresses`` only."""
        if target.parts.scheme == "https":
            return _PinnedHttpsConnection(
                target.host,
                target.port,
                addresses=addresses,
                timeout=timeout_s,
                context=transfer.ssl_context(),
            )
        return _PinnedHttpConnection(
            target.host, target.port, addresses=addresses, timeout=timeout_s
        )


def _connect_first(
    addresses: Sequence[str],
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """Connect to the first of ``addresses`` that answers, at ``address``'s port.

    Stands in for ``socket.create_connection``, which would resolve ``address``'s host
    again (and could get another answer than the one the policy checked).
    """
    port = address[1]
    error: OSError | None = None
    for ip in addresses:
        try:
            return socket.create_connection((ip, port), timeout, source_address)
        except OSError as exc:
            error = exc
    assert error is not None, "allowed_addresses never returns an empty list"
    raise error


class _PinnedHttpConnection(http.client.HTTPConnection):
    """An HTTP connection with the URL's host in ``Host``, made to checked addresses only."""

    def __init__(self, host: str, port: int, *, addresses: Sequence[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        # http.client's own seam (CPython sets it per instance for tests to replace).
        self._create_connection = functools.partial(_connect_first, tuple(addresses))


class _PinnedHttpsConnection(http.client.HTTPSConnection):
    """As _PinnedHttpConnection; TLS still sends and checks the URL's host name (SNI)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Sequence[str],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._create_connection = functools.partial(_connect_first, tuple(addresses))


def _media_type(value: str | None) -> str | None:
    media_type = value.split(";", 1)[0].strip().lower() if value else ""
    return media_type or None


def _redirect_target(current: _Target, status: int, location: str | None, follow: bool) -> _Target:
    where = f"HTTP {status} from {redact_url(current.url)}"
    if not location:
        raise SourceUnavailableError(f"{where} has no Location header")
    next_url = urljoin(current.url, location)
    shown = redact_url(next_url)
    if not follow:
        raise SourceUnavailableError(
            f"{where} redirects to {shown}; redirects are not followed for this template "
            f"({REDIRECT_SETTING} is false)"
        )
    current_scheme, next_scheme = current.parts.scheme, urlsplit(next_url).scheme.lower()
    if next_scheme != current_scheme:
        if current_scheme == "https" and next_scheme == "http":
            why = "it would drop TLS and send the rest in clear text"
        elif current_scheme == "http" and next_scheme == "https":
            why = (
                "the registered URL decides whether TLS and this zone's certificates apply; "
                "register the https:// URL itself"
            )
        else:
            why = f"{next_scheme!r} is not {current_scheme!r}"
        raise SourceUnavailableError(
            f"{where} redirects to another scheme ({shown}); refused because {why}"
        )
    logger.info("following %s to %s", where, shown)
    return _parse_target(next_url)


def _raise_for_status(exchange: _Exchange) -> None:
    status = exchange.response.status
    if 200 <= status < 300:
        return
    # Never the reason phrase: it is the source's own text (a local service's banner).
    message = f"HTTP {status} from {redact_url(exchange.target.url)}"
    if status in (404, 410):
        raise SourceNotFoundError(message)
    if status in (401, 403):
        raise SourceDeniedError(message)
    raise SourceUnavailableError(message)
