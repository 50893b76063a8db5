"""Origin: a loopback HTTP file server for download tests, demos and end-to-end runs.

In tests::

    from tests.support.origin import Origin

    with Origin(files={"/t.qcow2": data}, require_header=("X-Auth-Token", "secret")) as origin:
        url = origin.url("/t.qcow2")            # http://127.0.0.1:<port>/t.qcow2
        ...
        assert origin.get_count("/t.qcow2") == 1  # GET bodies served for that path
        assert origin.get_requests("/t.qcow2") == 1  # GETs received, whatever the answer
        assert origin.bytes_sent("/t.qcow2") == len(data)

Behaviour switches (all may also be changed while the origin runs):

* ``files`` (path → bytes) and/or ``directory`` (served read-only, no listing);
* ``require_header=(name, value)``: requests without it get 403;
* ``statuses[path] = 404`` (or 500, 410, …): answer that status instead of the file;
* ``fail_first[path] = (status, n)``: answer ``status`` to the next n GETs of the path
  (HEADs are not affected), then serve it normally; the entry counts down and is removed;
* ``redirects[path] = "/other"`` (absolute URL or path): answer 302 with that Location;
* ``reject_head=True``: HEAD gets 405 (as S3 presigned URLs and some CDNs do);
* ``delay_s`` / ``chunk_size_bytes``: send the body in chunks with a pause before each;
* ``throttle_bps[path] = n``: send that path's bodies at about n bytes per second (in
  pieces of at most a tenth of that), so a download lasts long enough to be interrupted;
* ``truncate[path] = n``: announce the full Content-Length but send only n bytes;
* ``break_after[path] = n``: once, send n body bytes and close the connection (the next
  request for the path is served normally);
* ``no_ranges=True``: ignore ``Range`` and always answer 200 with the whole file;
* ``send_etag`` / ``send_last_modified`` (both True): a strong ``ETag`` and a
  ``Last-Modified``, both derived from the content, so they change when it changes;
* ``content_types[path] = "application/metalink4+xml"``: the Content-Type to send
  (``application/octet-stream`` otherwise).

``Range: bytes=a-b`` is honoured (206 with Content-Range) unless ``If-Range`` names another
version (then 200 with the whole file). ``stats(path).ranges`` lists each GET's
``(Range, If-Range)`` headers.

Counters: ``get_count(path)`` counts GET bodies started (2xx answers), ``get_requests(path)``
every GET received whatever the answer (403, 404, ``fail_first``…), ``bytes_sent(path)`` the
body bytes sent. ``wait_for_bytes(path, n, timeout_s)`` blocks until n body bytes of the
path went out (for tests that interrupt a transfer in flight); it does not wait for
transfers to end, unlike ``stats()``.

HTTPS: ``Origin(https=True)`` serves TLS with a certificate for 127.0.0.1 and localhost
from its own private CA (trustme); ``origin.ca_pem`` is that CA, to put in a trust store.
``origin.use_certificate("wrong.example")`` or ``origin.use_certificate(expired=True)``
switch what later connections are served.

As a script, for demos and the end-to-end suite; it prints
``serving <dir> at http://127.0.0.1:<port>/`` once listening::

    python -m tests.support.origin --dir D --port P --require-header 'X-Auth-Token: secret'
"""

import argparse
import contextlib
import datetime
import hashlib
import re
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import trustme

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_EPOCH_2020 = 1577836800


@dataclass
class PathStats:
    """What one path has served."""

    get_count: int = 0  # GET requests answered 2xx with a body
    head_count: int = 0
    bytes_sent: int = 0
    ranges: list[tuple[str | None, str | None]] = field(default_factory=list)
    get_requests: int = 0  # GET requests received, whatever the answer


class OriginTls:
    """An HTTPS origin's private CA (trustme) and the certificate it currently serves."""

    DEFAULT_NAMES = ("127.0.0.1", "localhost")

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._context = self._server_context(self.DEFAULT_NAMES)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM: what a client must trust."""
        return self.ca.cert_pem.bytes()

    @property
    def context(self) -> ssl.SSLContext:
        """The server context new connections are wrapped with."""
        return self._context

    def use_certificate(
        self, *names: str, expired: bool = False, not_yet_valid: bool = False
    ) -> None:
        """Serve a new certificate from the same CA for ``names`` (default: the loopback ones).

        ``expired``: valid for a day a year ago; ``not_yet_valid``: from next year on.
        """
        now = datetime.datetime.now(datetime.UTC)
        not_before = not_after = None
        if expired:
            not_before, not_after = (
                now - datetime.timedelta(days=366),
                now - datetime.timedelta(days=365),
            )
        elif not_yet_valid:
            not_before, not_after = (
                now + datetime.timedelta(days=365),
                now + datetime.timedelta(days=366),
            )
        self._context = self._server_context(
            names or self.DEFAULT_NAMES, not_before=not_before, not_after=not_after
        )

    def _server_context(self, names: tuple[str, ...], **validity: Any) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names, **validity).configure_cert(context)
        return context


class Origin:
    """A ThreadingHTTPServer on loopback in a background thread."""

    def __init__(
        self,
        *,
        files: Mapping[str, bytes] | None = None,
        directory: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        require_header: tuple[str, str] | None = None,
        reject_head: bool = False,
        delay_s: float = 0.0,
        chunk_size_bytes: int = 64 * 1024,
        quiet: bool = True,
        https: bool = False,
    ) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.directory = directory
        self.require_header = require_header
        self.reject_head = reject_head
        self.delay_s = delay_s
        self.chunk_size_bytes = chunk_size_bytes
        self.statuses: dict[str, int] = {}
        self.fail_first: dict[str, tuple[int, int]] = {}
        self.throttle_bps: dict[str, int] = {}
        self.redirects: dict[str, str] = {}
        self.truncate: dict[str, int] = {}
        self.break_after: dict[str, int] = {}
        self.content_types: dict[str, str] = {}
        self.no_ranges = False
        self.send_etag = True
        self.send_last_modified = True
        self.tls = OriginTls() if https else None
        self.quiet = quiet
        self._stats: dict[str, PathStats] = {}
        self._lock = threading.Condition()
        self._in_flight = 0
        self._server = _OriginServer((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port the origin listens on."""
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        """``https`` for an HTTPS origin, else ``http``."""
        return "https" if self.tls is not None else "http"

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` without a trailing slash."""
        host = str(self._server.server_address[0])
        return f"{self.scheme}://{host}:{self.port}"

    def url(self, path: str, *, host: str | None = None) -> str:
        """Return the full URL of ``path`` (which starts with ``/``), optionally via ``host``."""
        if host is None:
            return self.base_url + path
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def ca_pem(self) -> bytes:
        """The private CA of an HTTPS origin, PEM."""
        assert self.tls is not None, "not an HTTPS origin: Origin(https=True)"
        return self.tls.ca_pem

    def use_certificate(
        self, *names: str, expired: bool = False, not_yet_valid: bool = False
    ) -> None:
        """Serve another certificate from the same CA (see :meth:`OriginTls.use_certificate`)."""
        assert self.tls is not None, "not an HTTPS origin: Origin(https=True)"
        self.tls.use_certificate(*names, expired=expired, not_yet_valid=not_yet_valid)

    def start(self) -> "Origin":
        """Start serving in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "Origin":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self, path: str, *, settle_s: float = 2.0) -> PathStats:
        """Return a copy of the counters for ``path``.

        Waits (up to ``settle_s``) for requests still being answered, so counts read right
        after a client hung up include what the server thread was still sending.
        """
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, settle_s)
            stats = self._stats.get(path, PathStats())
            return replace(stats, ranges=list(stats.ranges))

    def get_count(self, path: str) -> int:
        """Return how many GET bodies ``path`` has served."""
        return self.stats(path).get_count

    def bytes_sent(self, path: str) -> int:
        """Return how many body bytes ``path`` has sent."""
        return self.stats(path).bytes_sent

    def get_requests(self, path: str) -> int:
        """Return how many GET requests ``path`` has received, whatever the answer."""
        return self.stats(path).get_requests

    def wait_for_bytes(self, path: str, count: int, timeout_s: float) -> None:
        """Wait until ``path`` has sent at least ``count`` body bytes in all.

        Raises:
            AssertionError: not within ``timeout_s``.
        """

        def sent() -> int:
            stats = self._stats.get(path)
            return stats.bytes_sent if stats is not None else 0

        with self._lock:
            if not self._lock.wait_for(lambda: sent() >= count, timeout_s):
                raise AssertionError(
                    f"{path} sent {sent()} body bytes, not {count}, within {timeout_s} s"
                )

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def _record(
        self,
        path: str,
        *,
        get: bool = False,
        head: bool = False,
        sent: int = 0,
        ranges: tuple[str | None, str | None] | None = None,
    ) -> None:
        with self._lock:
            stats = self._stats.setdefault(path, PathStats())
            stats.get_count += int(get)
            stats.head_count += int(head)
            stats.bytes_sent += sent
            if ranges is not None:
                stats.ranges.append(ranges)
            self._lock.notify_all()

    def _count_get(self, path: str) -> None:
        with self._lock:
            self._stats.setdefault(path, PathStats()).get_requests += 1

    def _take_failure(self, path: str) -> int | None:
        """Use up one of ``fail_first[path]``; return the status to answer, if any."""
        with self._lock:
            entry = self.fail_first.get(path)
            if entry is None:
                return None
            status, remaining = entry
            if remaining <= 1:
                del self.fail_first[path]
            else:
                self.fail_first[path] = (status, remaining - 1)
            return status if remaining >= 1 else None

    def _take_break(self, path: str) -> int | None:
        with self._lock:
            return self.break_after.pop(path, None)

    def _content(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.directory is None:
            return None
        root = self.directory.resolve()
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate.read_bytes()


class _OriginServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], origin: Origin) -> None:
        super().__init__(address, _Handler)
        self.origin = origin

    def finish_request(self, request: Any, client_address: Any) -> None:
        # In the request's own thread, so a slow or failing handshake holds up no one.
        tls = self.origin.tls
        if tls is None:
            super().finish_request(request, client_address)
            return
        # wrap_socket() takes the connection over: the SSL socket is the one to close.
        with tls.context.wrap_socket(request, server_side=True) as tls_socket:
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Refused handshakes and clients hanging up are what the tests provoke.
        if self.origin.quiet and isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def parse_range(header: str, length: int) -> tuple[int, int] | None:
    """Return ``(start, end)`` (end exclusive) for a single-range header, else None.

    Raises:
        ValueError: the range cannot be satisfied for ``length`` bytes.
    """
    match = _RANGE.match(header.strip())
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last) + 1, length) if last else length
    else:
        start, end = max(0, length - int(last)), length
    if start >= length or start >= end:
        raise ValueError(f"range {header!r} outside {length} bytes")
    return start, end


class _Handler(BaseHTTPRequestHandler):
    server_version = "kvmcloud-test-origin"
    server: _OriginServer

    def handle(self) -> None:
        self.server.origin._enter()
        try:
            super().handle()
        finally:
            self.server.origin._leave()

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def log_message(self, format: str, *args: object) -> None:
        if not self.server.origin.quiet:
            super().log_message(format, *args)

    def _answer(self, *, send_body: bool) -> None:
        origin = self.server.origin
        path = unquote(urlsplit(self.path).path)
        if not send_body:
            origin._record(path, head=True)
        else:
            origin._count_get(path)
        required = origin.require_header
        if required is not None and self.headers.get(required[0]) != required[1]:
            self._plain(HTTPStatus.FORBIDDEN, send_body)
        elif not send_body and origin.reject_head:
            self._plain(HTTPStatus.METHOD_NOT_ALLOWED, send_body)
        elif send_body and (injected := origin._take_failure(path)) is not None:
            self._plain(HTTPStatus(injected), send_body)
        elif path in origin.statuses:
            self._plain(HTTPStatus(origin.statuses[path]), send_body)
        elif path in origin.redirects:
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", origin.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            content = origin._content(path)
            if content is None:
                self._plain(HTTPStatus.NOT_FOUND, send_body)
            else:
                self._file(path, content, send_body)

    def _file(self, path: str, content: bytes, send_body: bool) -> None:
        origin = self.server.origin
        # Hashing the content costs time on large files: only when validators are sent.
        validated = origin.send_etag or origin.send_last_modified
        etag, last_modified = _validators(content) if validated else ("", "")
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if send_body:
            origin._record(path, ranges=(range_header, if_range))
        honour_range = not origin.no_ranges and (
            if_range is None
            or (origin.send_etag and if_range == etag)
            or (origin.send_last_modified and if_range == last_modified)
        )
        try:
            byte_range = parse_range(range_header or "", len(content)) if honour_range else None
        except ValueError:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{len(content)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = byte_range or (0, len(content))
        if byte_range is not None:
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(content)}")
        else:
            self.send_response(HTTPStatus.OK)
        if not origin.no_ranges:
            self.send_header("Accept-Ranges", "bytes")
        if origin.send_etag:
            self.send_header("ETag", etag)
        if origin.send_last_modified:
            self.send_header("Last-Modified", last_modified)
        self.send_header("Content-Type", origin.content_types.get(path, "application/octet-stream"))
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if not send_body:
            return
        body = content[start:end]
        if path in origin.truncate:
            body = body[: origin.truncate[path]]
        break_after = origin._take_break(path)
        if break_after is not None:
            body = body[:break_after]
        origin._record(path, get=True)
        self._send_chunks(path, body)
        if break_after is not None:
            self._break_connection()

    def _send_chunks(self, path: str, body: bytes) -> None:
        origin = self.server.origin
        step = max(1, origin.chunk_size_bytes)
        rate = origin.throttle_bps.get(path)
        if rate:
            step = max(1, min(step, rate // 10))
        for offset in range(0, len(body), step):
            if origin.delay_s:
                time.sleep(origin.delay_s)
            chunk = body[offset : offset + step]
            if rate:
                time.sleep(len(chunk) / rate)
            try:
                self.wfile.write(chunk)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away (cancelled, or read only a prefix)
            origin._record(path, sent=len(chunk))

    def _break_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may already be gone
            self.connection.shutdown(socket.SHUT_RDWR)

    def _plain(self, status: HTTPStatus, send_body: bool) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def _validators(content: bytes) -> tuple[str, str]:
    """A strong ETag and a Last-Modified date, both changing whenever the content does."""
    digest = hashlib.sha256(content).hexdigest()
    modified = _EPOCH_2020 + int(digest[:8], 16) % 100_000_000
    return f'"{digest[:32]}"', formatdate(modified, usegmt=True)


def main(argv: list[str] | None = None) -> int:
    """Serve a directory until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="directory to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--require-header", metavar="'NAME: VALUE'", help="answer 403 without this header"
    )
    parser.add_argument("--reject-head", action="store_true", help="answer HEAD with 405")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    required = None
    if args.require_header:
        name, sep, value = args.require_header.partition(":")
        if not sep or not name.strip():
            parser.error("--require-header must look like 'Name: value'")
        required = (name.strip(), value.strip())
    origin = Origin(
        directory=args.dir,
        host=args.host,
        port=args.port,
        require_header=required,
        reject_head=args.reject_head,
        quiet=not args.verbose,
    )
    stop = threading.Event()

    def request_stop(sig: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with origin:
        print(f"serving {args.dir} at {origin.base_url}/", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
