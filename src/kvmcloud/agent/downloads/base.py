"""Downloader Protocol, DownloadRequest, SourceInfo and Fetched: the downloader seam."""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kvmcloud.protocol.agent_messages import Timeouts
from kvmcloud.protocol.checksums import ChecksumVerifier

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
    or copied into error messages.
    """

    url: str
    image_format: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    follow_redirects: bool = False
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    progress: ProgressCallback = field(default=_ignore_progress, repr=False)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the source says about the image before it is downloaded; None = not said."""

    physical_size_bytes: int | None
    virtual_size_bytes: int | None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A completed transfer: the file written and how many bytes it holds."""

    path: Path
    size_bytes: int


class Downloader(Protocol):
    """Gets an image from one kind of URL (one or more schemes) onto local disk.

    A downloader holds no per-transfer state: the engine calls it from several threads at
    once, each call with its own :class:`DownloadRequest`. It must be safe for that.

    Every method raises only :class:`~kvmcloud.agent.downloads.errors.DownloadError`
    subclasses for source-side problems, translating its library's exceptions at the
    boundary (``raise … from exc``); the one exception is writing the destination file (see
    :meth:`fetch`). Messages name the URL and, for HTTP, the status and reason; they never
    include header values. Connections, sockets and file handles are released before the
    method returns or raises, whatever happens.
    """

    def probe(self, request: DownloadRequest) -> SourceInfo:
        """Check the URL is reachable and learn its sizes, transferring (almost) nothing.

        This is CloudStack's URL check. It reads at most the first few hundred bytes of the
        body (to parse a qcow2 header when ``request.image_format`` is QCOW2); otherwise
        ``virtual_size_bytes`` equals ``physical_size_bytes``. Sizes the source does not
        state are None.

        Raises:
            DownloadError: the appropriate subclass: ``SourceNotFoundError``,
                ``SourceDeniedError``, ``SourceUnavailableError``, ``DnsFailureError``,
                ``TlsFailureError``, ``DownloadTimeoutError`` or ``UnsupportedUrlError``.
        """
        ...

    def fetch(
        self, request: DownloadRequest, into: Path, verifier: ChecksumVerifier | None
    ) -> Fetched:
        """Stream the whole body into the file ``into`` (created or truncated).

        In the same single pass over the bytes it must:

        * feed every chunk to ``verifier`` (when given), so the checksum needs no re-read;
          the caller calls ``verifier.verify()`` afterwards;
        * call ``request.progress(0, total)`` once the size is known from the response and
          **before writing the first byte**, then ``progress(done, total)`` after each chunk.
          An exception raised by the callback aborts the transfer and propagates unchanged
          (the engine uses this to refuse an image that cannot fit in the pool);
        * check ``request.cancel`` between chunks and raise ``DownloadCancelledError``;
        * enforce ``timeouts.connect_s`` and ``timeouts.read_s`` per operation and
          ``timeouts.total_s`` for the whole call (``DownloadTimeoutError``).

        A body shorter than the size the source announced is an error
        (``SourceUnavailableError``). Errors writing ``into`` (ENOSPC, EIO…) propagate as
        ``OSError`` so the caller, who owns the file system, can classify them. The caller
        also owns ``into``: it removes the file on failure.

        Raises:
            DownloadError: as for :meth:`probe`, plus ``DownloadCancelledError`` and
                ``SourceUnavailableError`` for a short body.
            OSError: writing the destination file failed.
        """
        ...


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
        """Accept the next bytes of the source.

        Raises:
            OSError: writing the image failed (ENOSPC…); the engine classifies it.
            ImageRejectedError: the bytes are not a valid compressed stream.
        """
        ...

    def restart(self) -> None:
        """Forget everything written; the next write is byte 0 of the source again."""
        ...
