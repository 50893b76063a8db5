"""Downloader and ImageSink Protocols, DownloadRequest, SourceInfo: the downloader seam."""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kvmcloud.protocol.agent_messages import MirrorCheck, Timeouts
from kvmcloud.protocol.egress import EgressPolicy

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is None when unknown."""


def _ignore_progress(bytes_done: int, bytes_total: int | None) -> None:
    """Accept progress reports and do nothing with them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadRequest:
    """One transfer to make: where from, how, and how to stop it.

    ``image_format`` is the registered format (CloudStack spelling, e.g. ``QCOW2``);
    :meth:`Downloader.probe` uses it to read a qcow2 virtual size from the header.
    ``headers`` may carry credentials: it is left out of ``repr`` and must never be logged
    or copied into error messages. ``egress`` decides which hosts and addresses the
    downloader may connect to (every redirect hop and mirror included); the default
    refuses loopback, private and other local addresses.
    """

    url: str
    image_format: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    follow_redirects: bool = False
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    progress: ProgressCallback = field(default=_ignore_progress, repr=False)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the source says about the image before it is downloaded; None = not said.

    ``content_type`` is the media type the source declares (HTTP ``Content-Type``),
    lower-case and without parameters, e.g. ``application/metalink4+xml``. ``mirrors``
    is each mirror's own check, for a source that has mirrors (a metalink).
    """

    physical_size_bytes: int | None
    virtual_size_bytes: int | None
    content_type: str | None = None
    mirrors: tuple[MirrorCheck, ...] = ()


class ImageSink(Protocol):
    """Where a downloader puts the source's bytes, exactly as the source serves them.

    The sink is the single pass over the bytes: it feeds the checksum verifier (the checksum
    is of the bytes as published at the URL), detects compression by magic bytes (gzip,
    bzip2, xz, zstd) and decompresses while streaming, and writes the image into the pool's
    temporary file. Downloaders never touch the file or the verifier themselves.

    A downloader that loses its connection may continue where it stopped (HTTP ``Range``
    from :attr:`received_bytes`): the sink keeps its hash and decompression state, so
    nothing is read back. When the source cannot continue (no ranges, or the object
    changed), the downloader calls :meth:`restart` and sends the source again from byte 0.
    A sink is used by one transfer, from one thread.
    """

    @property
    def received_bytes(self) -> int:
        """How many bytes of the source the sink has accepted: where to resume from."""
        ...

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Accept the next bytes of the source; ``data`` is not kept after the call.

        Raises:
            OSError: writing the image failed (ENOSPC…); the engine classifies it.
            ImageRejectedError: the bytes are not a valid compressed stream.
        """
        ...

    def restart(self) -> None:
        """Forget everything written; the next write is byte 0 of the source again."""
        ...


@runtime_checkable
class BufferedImageSink(ImageSink, Protocol):
    """An ImageSink that lends its own buffers, so a downloader reads into them (no copy).

    The engine's sink is one. A downloader that sees it (``isinstance``) reads with
    ``readinto(sink.buffer())`` and then calls ``sink.commit(count)`` instead of
    ``write``; the two forms may be mixed. The sink processes the bytes on other threads,
    so what ``write`` would raise may come from ``buffer``, ``commit`` or a later call.
    """

    def buffer(self) -> memoryview:
        """Return free space for the next bytes of the source (valid until ``commit``)."""
        ...

    def commit(self, count: int) -> None:
        """Accept the first ``count`` bytes of the last ``buffer()`` as the next bytes."""
        ...


class Downloader(Protocol):
    """Gets an image from one kind of URL (one or more schemes) into an :class:`ImageSink`.

    A downloader holds no per-transfer state: the engine calls it from several threads at
    once, each call with its own :class:`DownloadRequest`. It must be safe for that.

    Every method raises only :class:`~kvmcloud.agent.downloads.errors.DownloadError`
    subclasses for source-side problems, translating its library's exceptions at the
    boundary (``raise … from exc``); the one exception is what the sink raises (see
    :meth:`fetch`). Messages name the URL and, for HTTP, the status and reason; they never
    include header values. Connections, sockets and file handles are released before the
    method returns or raises, whatever happens.
    """

    def probe(self, request: DownloadRequest) -> SourceInfo:
        """Check the URL is reachable and learn its sizes, transferring (almost) nothing.

        This is CloudStack's URL check. It reads at most the first few hundred bytes of the
        body (to parse a qcow2 header when ``request.image_format`` is QCOW2); otherwise
        ``virtual_size_bytes`` equals ``physical_size_bytes``. Sizes the source does not
        state are None, and so is ``content_type`` when the source has no such notion.

        Raises:
            DownloadError: the appropriate subclass: ``SourceNotFoundError``,
                ``SourceDeniedError``, ``SourceUnavailableError``, ``DnsFailureError``,
                ``TlsFailureError``, ``DownloadTimeoutError`` or ``UnsupportedUrlError``.
        """
        ...

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        """Send the source's bytes, exactly as served, into ``sink`` up to the end.

        * **Where to start.** Normally the sink is empty. A caller that hands over a sink
          already holding bytes vouches that they are the start of this same file (the
          metalink downloader does, for pieces it verified); the downloader continues from
          ``sink.received_bytes`` if the source can (HTTP ``Range``), and otherwise calls
          ``sink.restart()`` and sends from byte 0.
        * **Resume.** When the connection breaks mid-body (reset, short body, no data for
          ``read_s``), the downloader reconnects, a bounded number of times with a short
          pause, and continues from ``sink.received_bytes`` when the source proves the
          object is unchanged (HTTP ``If-Range`` with the first response's ``ETag`` or
          ``Last-Modified``); otherwise it calls ``sink.restart()`` and sends it all again.
          When the attempts run out, the last error is raised.
        * **Progress.** ``request.progress(sink.received_bytes, total)`` once the size is
          known and **before writing the first byte** (``bytes_done`` is 0 for a fresh or
          restarted transfer), then after every write; ``total`` is the whole source's
          size, None when unknown. An exception raised by the callback aborts the transfer
          and propagates unchanged (the engine refuses an image that cannot fit this way).
        * **Cancel.** ``request.cancel`` is checked between writes:
          ``DownloadCancelledError``.
        * **Timeouts.** ``connect_s`` bounds the connection (TCP and TLS handshake),
          ``request_s`` the wait for the response's status and headers, ``read_s`` the wait
          for each next byte of the body (a stall), ``total_s`` the whole call including
          reconnects (``DownloadTimeoutError``, whose message says which).
        * **Sink errors.** Whatever ``sink.write``/``sink.restart`` raise (``OSError``
          writing the pool, ``ImageRejectedError`` for a bad compressed stream,
          ``PoolFullError``) propagates unchanged and is never retried. The sink must not
          keep ``data`` after ``write`` returns: downloaders reuse their buffers.

        The downloader never calls ``finish``-like methods: the caller checks the stream's
        end, verifies the checksum and owns the file. A body shorter than the size the
        source announced, once reconnecting gave up, is ``SourceUnavailableError``.

        Raises:
            DownloadError: as for :meth:`probe`, plus ``DownloadCancelledError`` and
                ``SourceUnavailableError`` for a short body.
            OSError: raised by ``sink``.
        """
        ...
