"""NfsDownloader: nfs:// probe and fetch with libnfs's nfs-ls and nfs-cat; nothing is mounted.

CloudStack 4.19 mounts the URL's path with shell strings built from it and reports success
whatever happens (reference §4.6, §9 item 10). Here the URL is validated strictly first
(nfs_urls.py) and rebuilt from its checked parts; the userspace client of Debian's
``libnfs-utils`` then runs through :mod:`kvmcloud.agent.host.commands` with argument lists:
no shell, no mount point to leave stale, no kernel NFS client needed.

What libnfs-utils 4.0 offers, and how it is used:

* ``nfs-ls <dir-url>`` lists a directory as ``-rw-r--r--  1  uid  gid  size name``: the
  probe's stat (there is no ``nfs-stat`` in Debian's package).
* ``nfs-cat <file-url>`` writes the whole file to stdout, 1 MiB per NFS read. It takes no
  offset, so a broken transfer cannot resume: it restarts once from byte 0.
* Neither takes options before the URL that could be injected; libnfs reads options from
  the URL's query string (``?uid=0``…), which is why a ``?`` in a template URL is refused
  and the port is passed as libnfs's own ``?nfsport=`` (libnfs 4.0 cannot parse
  ``host:port``; IPv6 literals go without brackets, which it can).
* libnfs authenticates with AUTH_SYS as the agent's uid (root): exports that squash root
  serve only world-readable files.
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kvmcloud.agent.downloads.base import DownloadRequest, ImageSink, SourceInfo
from kvmcloud.agent.downloads.egress import Resolver, allowed_addresses, resolve_host
from kvmcloud.agent.downloads.errors import (
    DownloadCancelledError,
    DownloadError,
    DownloadTimeoutError,
    SourceNotFoundError,
    SourceUnavailableError,
)
from kvmcloud.agent.downloads.image_header import (
    QCOW2_HEADER_PROBE_BYTES,
    parse_qcow2_virtual_size,
)
from kvmcloud.agent.downloads.nfs_output import error_from_libnfs, parse_nfs_ls
from kvmcloud.agent.downloads.nfs_urls import NfsLocation, parse_nfs_url
from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import (
    CommandError,
    CommandFailedError,
    CommandNotFoundError,
    CommandTimeoutError,
    ProcessStream,
    RunCommand,
    StreamCommand,
)
from kvmcloud.protocol.redaction import redact_url

logger = logging.getLogger(__name__)

DEFAULT_BUFFER_SIZE_BYTES = 4 * 1024 * 1024
# One restart after a broken stream: nfs-cat cannot resume, and a source that breaks twice
# is better reported than retried (the engine may try another host).
MAX_ATTEMPTS = 2
# A server that just dropped a transfer gets a moment before it is asked again.
RETRY_PAUSE_S = 1.0
# How often a silent transfer looks at the cancel flag while it waits for data.
CANCEL_CHECK_S = 0.25


@dataclass(frozen=True, slots=True)
class _Stat:
    size_bytes: int | None


class _BrokenStreamError(Exception):
    """The stream ended early or failed after bytes arrived: worth one clean restart."""

    def __init__(self, error: DownloadError) -> None:
        super().__init__(str(error))
        self.error = error


class NfsDownloader:
    """Downloads ``nfs://`` URLs with libnfs-utils; one instance serves many threads.

    ``run`` and ``stream`` default to :func:`commands.run` and :func:`commands.stream`
    (looked up at construction, so the test suite's guard covers them). The server's name
    is resolved with ``resolve`` and checked with the request's egress policy; libnfs gets
    the checked address, never the name.
    """

    def __init__(
        self,
        *,
        buffer_size_bytes: int = DEFAULT_BUFFER_SIZE_BYTES,
        run: RunCommand | None = None,
        stream: StreamCommand | None = None,
        nfs_ls: str = "nfs-ls",
        nfs_cat: str = "nfs-cat",
        retry_pause_s: float = RETRY_PAUSE_S,
        clock: Callable[[], float] = time.monotonic,
        resolve: Resolver = resolve_host,
    ) -> None:
        if buffer_size_bytes <= 0:
            raise ValueError("buffer_size_bytes must be positive")
        self._resolve = resolve
        self._retry_pause_s = retry_pause_s
        self._buffer_size_bytes = buffer_size_bytes
        self._run: RunCommand = run if run is not None else commands.run
        self._stream: StreamCommand = stream if stream is not None else commands.stream
        self._nfs_ls = nfs_ls
        self._nfs_cat = nfs_cat
        self._clock = clock

    def probe(self, request: DownloadRequest) -> SourceInfo:
        """Stat the file with ``nfs-ls`` and read its first bytes with ``nfs-cat``.

        The read proves the agent may open the file (permissions are only checked on
        open) and gives the qcow2 header. nfs-cat fetches up to 1 MiB before it is stopped.
        """
        location = self._checked_location(request)
        deadline = self._clock() + request.timeouts.total_s
        stat = self._stat(location, request, deadline)
        header = self._read_prefix(location, request, deadline)
        virtual_size = stat.size_bytes
        if request.image_format.upper() == "QCOW2":
            virtual_size = parse_qcow2_virtual_size(header)
            if virtual_size is None:
                # Not fatal here: the image may be compressed; qemu-img has the last word.
                logger.info("no qcow2 header at %s", redact_url(request.url))
        return SourceInfo(physical_size_bytes=stat.size_bytes, virtual_size_bytes=virtual_size)

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        """Stream the file with ``nfs-cat`` into ``sink``; restart once if it breaks.

        nfs-cat takes no offset, so neither a sink that already holds bytes nor a broken
        stream (failed, short, or silent for ``read_s`` after data arrived) can continue
        from ``sink.received_bytes``: the sink is restarted and the file sent from byte 0.
        """
        location = self._checked_location(request)
        deadline = self._clock() + request.timeouts.total_s
        if sink.received_bytes:
            sink.restart()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if attempt > 1:
                self._pause(request, location, deadline)
                sink.restart()
            # Stat on every attempt: a file replaced since has a new size.
            stat = self._stat(location, request, deadline)
            request.progress(sink.received_bytes, stat.size_bytes)
            try:
                done = self._stream_once(location, request, sink, stat.size_bytes, deadline)
            except _BrokenStreamError as broken:
                if attempt == MAX_ATTEMPTS:
                    raise broken.error from broken
                logger.warning(
                    "NFS transfer of %s broke (%s); restarting from byte 0",
                    redact_url(request.url),
                    broken.error,
                )
                continue
            logger.info("fetched %d bytes from %s", done, redact_url(request.url))
            return

    def _checked_location(self, request: DownloadRequest) -> NfsLocation:
        """Parse the URL and pin the server's address the egress policy allows.

        Raises:
            SourceRefusedError: the policy refuses the server.
        """
        location = parse_nfs_url(request.url)
        addresses = allowed_addresses(
            request.egress, location.host, url=redact_url(location.url), resolve=self._resolve
        )
        # libnfs connects to one address: the first, as the resolver ordered them.
        return dataclasses.replace(location, address=addresses[0])

    def _pause(self, request: DownloadRequest, location: NfsLocation, deadline: float) -> None:
        """Wait a moment before reconnecting, unless cancelled meanwhile."""
        pause_s = min(self._retry_pause_s, max(0.0, deadline - self._clock()))
        if request.cancel.wait(pause_s):
            raise DownloadCancelledError(
                f"download of {redact_url(location.url)} cancelled before restarting"
            )

    def _stat(self, location: NfsLocation, request: DownloadRequest, deadline: float) -> _Stat:
        action = f"listing {location.directory}"
        timeouts = request.timeouts
        timeout_s, limit = self._limit(
            timeouts.connect_s + timeouts.request_s,
            "connect and response timeouts",
            deadline,
            location,
        )
        argv = [self._nfs_ls, location.libnfs_url(location.directory)]
        try:
            result = self._run(argv, timeout_s=timeout_s)
        except CommandError as exc:
            raise self._command_error(exc, location, action, timeout_s, limit) from exc
        listing = result.stdout.decode("utf-8", "replace")
        entry = next((e for e in parse_nfs_ls(listing) if e.name == location.file_name), None)
        if entry is None:
            raise SourceNotFoundError(
                f"{location.path} does not exist on NFS server {location.server} "
                f"({redact_url(location.url)})"
            )
        if entry.kind == "d":
            raise SourceNotFoundError(
                f"{location.path} on NFS server {location.server} is a directory, not a file"
            )
        if entry.kind == "l":
            # nfs-ls shows the link itself; nfs-cat follows it. The size is the target's,
            # unknown until it is read.
            return _Stat(size_bytes=None)
        if entry.kind != "-":
            raise SourceNotFoundError(
                f"{location.path} on NFS server {location.server} is not a regular file"
            )
        return _Stat(size_bytes=entry.size_bytes)

    def _read_prefix(
        self, location: NfsLocation, request: DownloadRequest, deadline: float
    ) -> bytes:
        action = f"reading {location.path}"
        timeouts = request.timeouts
        timeout_s, limit = self._limit(
            timeouts.connect_s + timeouts.request_s + timeouts.read_s,
            "connect, response and read timeouts",
            deadline,
            location,
        )
        buffer = bytearray(QCOW2_HEADER_PROBE_BYTES)
        view = memoryview(buffer)
        filled = 0
        argv = [self._nfs_cat, location.libnfs_url(location.path)]
        try:
            with self._stream(argv, timeout_s=timeout_s) as running:
                # Bounded: each pass reads > 0 bytes or ends; `timeout_s` bounds the waits.
                while filled < len(buffer):
                    count = running.readinto(view[filled:])
                    if not count:
                        break
                    filled += count
        except CommandError as exc:
            raise self._command_error(exc, location, action, timeout_s, limit) from exc
        return bytes(view[:filled])

    def _stream_once(
        self,
        location: NfsLocation,
        request: DownloadRequest,
        sink: ImageSink,
        total: int | None,
        deadline: float,
    ) -> int:
        """One nfs-cat run into ``sink``; returns the byte count.

        Raises:
            _BrokenStreamError: the stream failed or ended short after bytes arrived.
        """
        url = redact_url(request.url)
        action = f"reading {location.path}"
        timeouts = request.timeouts
        timeout_s, limit = self._limit(timeouts.total_s, "total time limit", deadline, location)
        argv = [self._nfs_cat, location.libnfs_url(location.path)]
        done = 0
        try:
            with self._stream(argv, timeout_s=timeout_s) as running:
                done = self._copy(running, location, request, sink, total)
        except CommandError as exc:
            error = self._command_error(exc, location, action, timeout_s, limit)
            if done and isinstance(error, SourceUnavailableError):
                raise _BrokenStreamError(error) from exc
            raise error from exc
        if total is not None and done != total:
            raise _BrokenStreamError(
                SourceUnavailableError(
                    f"NFS read of {url} ended after {done} of {total} bytes "
                    "(the file changed or the server failed)"
                )
            )
        return done

    def _copy(
        self,
        running: ProcessStream,
        location: NfsLocation,
        request: DownloadRequest,
        sink: ImageSink,
        total: int | None,
    ) -> int:
        url = redact_url(request.url)
        timeouts = request.timeouts
        buffer = bytearray(self._buffer_size_bytes)
        view = memoryview(buffer)
        done = 0
        # Mounting and opening come before the first byte: they get the connect and
        # response limits on top of the read limit.
        stall_s = timeouts.connect_s + timeouts.request_s + timeouts.read_s
        last_data = self._clock()
        # Bounded: each pass reads bytes, ends, or waits at most CANCEL_CHECK_S; the stall
        # limit and the stream's total limit end a silent stream.
        while True:
            if request.cancel.is_set():
                # Raising inside the stream's block kills nfs-cat by its PID.
                raise DownloadCancelledError(f"download of {url} cancelled after {done} bytes")
            count = running.readinto(buffer, wait_s=CANCEL_CHECK_S)
            if count == 0:
                return done
            if count is None:
                if self._clock() - last_data >= stall_s:
                    stalled = DownloadTimeoutError(
                        f"no data from NFS server {location.server} for {stall_s:g} s "
                        f"while reading {url} ({done} bytes received; "
                        f"{'read timeout' if done else 'connect, response and read timeouts'})"
                    )
                    if done:
                        raise _BrokenStreamError(stalled)
                    raise stalled
                continue
            last_data = self._clock()
            stall_s = timeouts.read_s
            sink.write(view[:count])
            done += count
            if total is not None and done > total:
                raise _BrokenStreamError(
                    SourceUnavailableError(
                        f"{url} grew while it was read (more than {total} bytes)"
                    )
                )
            request.progress(done, total)

    def _limit(
        self, limit_s: float, name: str, deadline: float, location: NfsLocation
    ) -> tuple[float, str]:
        """Return the time an operation may take, and the name of the limit that binds."""
        remaining_s = deadline - self._clock()
        if remaining_s <= 0:
            raise DownloadTimeoutError(
                f"transfer from {redact_url(location.url)} exceeded its total time limit"
            )
        if remaining_s < limit_s:
            return remaining_s, "total time limit"
        return limit_s, name

    def _command_error(
        self,
        exc: CommandError,
        location: NfsLocation,
        action: str,
        timeout_s: float,
        limit: str,
    ) -> DownloadError:
        if isinstance(exc, CommandTimeoutError):
            return DownloadTimeoutError(
                f"{action} on NFS server {location.server} took longer than {timeout_s:g} s "
                f"({limit}) for {redact_url(location.url)}"
            )
        if isinstance(exc, CommandNotFoundError):
            return SourceUnavailableError(
                f"{exc.argv[0]} cannot run on this host (Debian package libnfs-utils): {exc}"
            )
        if isinstance(exc, CommandFailedError):
            text = (exc.stderr + b"\n" + exc.stdout).decode("utf-8", "replace")
            return error_from_libnfs(text, location, action)
        return SourceUnavailableError(f"{action} failed: {exc}")
