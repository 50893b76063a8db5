"""MetalinkDownloader: probe every mirror of a Metalink, fetch with failover and piece checks."""

import dataclasses
import hashlib
import hmac
import logging
import mmap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from kvmcloud.agent.downloads.base import (
    BufferedImageSink,
    DownloadRequest,
    ImageSink,
    SourceInfo,
)
from kvmcloud.agent.downloads.errors import (
    DnsFailureError,
    DownloadCancelledError,
    DownloadError,
    DownloadTimeoutError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceRefusedError,
    SourceUnavailableError,
    TlsFailureError,
    UnsupportedUrlError,
)
from kvmcloud.agent.downloads.metalink_format import (
    MAX_DOCUMENT_BYTES,
    Metalink,
    MetalinkError,
    Pieces,
    parse_metalink,
)
from kvmcloud.agent.downloads.mirrors import (
    another_mirror_may_help,
    average_rate,
    faster_mirror,
    live_mirrors,
    next_mirror,
    steady_rate,
    worth_sampling,
)
from kvmcloud.protocol.agent_messages import ErrorInfo, MirrorCheck, Timeouts
from kvmcloud.protocol.checksums import Checksum
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.protocol.redaction import redact_url

logger = logging.getLogger(__name__)

DOCUMENT_SCHEMES = ("http", "https")
MAX_PARALLEL_PROBES = 8
# Pieces are held in memory until their hash matches; beyond this they are not checked
# (the whole-file hash still is) rather than let one transfer hold a huge buffer.
MAX_PIECE_BYTES = 32 * 1024 * 1024
# Each mirror gets this many attempts at most (a mirror that served a bad piece may come
# back for a later piece): the attempt loop is bounded by mirrors x this.
ATTEMPTS_PER_MIRROR = 3
# Mirror speeds differ by orders of magnitude (a slow mirror listed first is common): once
# the transfer runs, every live mirror is sampled, in parallel, for this many bytes or this
# long, and the transfer moves to one that is much faster than the mirror in use (the rule,
# and how a sample's rate is measured, are in mirrors.py). Up to SAMPLE_ROUNDS rounds,
# SAMPLE_EVERY_S apart, so one unlucky sample cannot pin a transfer to a slow mirror. Files
# below SAMPLE_MIN_FILE_BYTES (or of unknown size) are not worth it. Measured with a dead, a
# 50 MB/s and a fast mirror listed in that order (docs/performance.md).
SAMPLE_BYTES = 16 * 1024 * 1024
SAMPLE_S = 1.0
SAMPLE_ROUNDS = 3
SAMPLE_EVERY_S = 1.0
SAMPLE_MIN_FILE_BYTES = 128 * 1024 * 1024
SAMPLE_READ_BYTES = 256 * 1024


def _ignore_progress(bytes_done: int, bytes_total: int | None) -> None:
    """The Metalink document's own transfer is not the image's progress."""


class SinkDownloader(Protocol):
    """A per-scheme downloader as the Metalink downloader uses it (base.Downloader's shape).

    ``fetch`` must continue from ``sink.received_bytes`` when it is above 0 on entry (HTTP
    ``Range: bytes=N-``; a source that cannot continue calls ``sink.restart()`` and sends
    from byte 0), and must let exceptions raised by ``sink.write`` propagate unchanged.
    """

    def probe(self, request: DownloadRequest) -> SourceInfo:
        """Check the URL and learn its sizes."""
        ...

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        """Stream the source into ``sink``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class MetalinkSourceInfo(SourceInfo):
    """SourceInfo plus each mirror's own check, for ``CheckUrlResult.mirrors``."""

    mirrors: tuple[MirrorCheck, ...] = ()


class MetalinkChecksumError(DownloadError):
    """Bytes from the mirrors do not match a hash the Metalink gives."""

    code = ErrorCode.CHECKSUM_MISMATCH


class PieceChecksumError(MetalinkChecksumError):
    """A piece from one mirror does not match its piece hash."""


class WholeFileChecksumError(MetalinkChecksumError):
    """The complete file does not match the Metalink's whole-file hash."""


class _WrongContentError(SourceUnavailableError):
    """A mirror served another file (more bytes than the Metalink describes)."""


class _SwitchMirrorError(Exception):
    """Raised through the mirror's downloader: another mirror is much faster; move there."""


class _SampleDoneError(Exception):
    """Raised through a mirror's downloader when its sample is complete."""


@runtime_checkable
class _DigestTracking(Protocol):
    """An outer sink that can compute a whole-stream digest on its own hasher thread."""

    def track_digest(self, hashlib_name: str) -> Callable[[], str]: ...


# When no mirror works, the error's class (so its wire code) is the first of these that
# some mirror raised: the most specific, most actionable reason comes first.
_MOST_TELLING: tuple[type[DownloadError], ...] = (
    MetalinkChecksumError,
    SourceRefusedError,
    SourceDeniedError,
    TlsFailureError,
    SourceNotFoundError,
    DnsFailureError,
    DownloadTimeoutError,
    SourceUnavailableError,
    UnsupportedUrlError,
)


class _DocumentSink:
    """An in-memory ImageSink for the Metalink document, refusing more than the bound."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._data = bytearray()

    @property
    def received_bytes(self) -> int:
        return len(self._data)

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if len(self._data) + len(data) > MAX_DOCUMENT_BYTES:
            raise MetalinkError(
                f"Metalink document {redact_url(self._url)} is larger than "
                f"{MAX_DOCUMENT_BYTES} bytes; refused"
            )
        self._data += data

    def restart(self) -> None:
        self._data.clear()


class PieceVerifyingSink:
    """An ImageSink in front of the engine's: passes on only bytes the Metalink vouches for.

    With piece hashes, each piece is held until it is complete and its hash matches, then
    passed on; a bad piece is dropped and raises :class:`PieceChecksumError`, leaving
    :attr:`received_bytes` at the piece's start, so the next mirror continues from there.
    The engine's sink (its checksum, its decompressor, its file) thus never sees a bad byte
    and never needs to rewind, compressed or not. The Metalink's strongest whole-file hash,
    when there is one, is computed over the bytes passed on and checked by :meth:`finish`.
    """

    def __init__(
        self,
        outer: ImageSink,
        *,
        pieces: Pieces | None,
        checksum: Checksum | None,
        size_bytes: int | None,
    ) -> None:
        self._outer = outer
        self._pieces = pieces
        self._checksum = checksum
        self._size_bytes = size_bytes
        self._limit = _covered_bytes(pieces, size_bytes)
        self._pending = bytearray()
        self._passed_on = 0
        self._pieces_done = 0
        # The engine's sink hashes on its own thread: let it compute the whole-file hash
        # too (free when it is the template's checksum) rather than hash here a second time.
        self._tracked: Callable[[], str] | None = None
        if checksum is not None and isinstance(outer, _DigestTracking) and not outer.received_bytes:
            self._tracked = outer.track_digest(checksum.algorithm.hashlib_name)
        self._whole = self._new_whole_hash()
        # Set by another thread to move the transfer to a faster mirror at the next write.
        self.switch = threading.Event()
        self.mirror_url = ""
        # Mirrors whose bytes were passed on since byte 0: the suspects if the whole file
        # does not match.
        self.contributors: set[str] = set()

    @property
    def received_bytes(self) -> int:
        """Bytes accepted: those passed on plus those of the piece being assembled."""
        return self._passed_on + len(self._pending)

    @property
    def has_pieces(self) -> bool:
        """Whether piece hashes are checked."""
        return self._pieces is not None

    @property
    def vouched(self) -> bool:
        """Whether a Metalink hash (pieces or whole file) checks the bytes."""
        return self._pieces is not None or self._checksum is not None

    @property
    def piece_index(self) -> int:
        """The piece the next byte belongs to (0 without piece hashes)."""
        return self._pieces_done

    @property
    def complete(self) -> bool:
        """Whether every byte the Metalink describes is in (False when it does not say)."""
        return self._limit is not None and self._passed_on == self._limit

    def begin(self, mirror_url: str) -> None:
        """Start an attempt on ``mirror_url``: each piece is served whole by one mirror."""
        self._pending.clear()
        self.mirror_url = mirror_url

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Accept the next bytes from the current mirror."""
        self._check_switch()
        if self._limit is not None and self.received_bytes + len(data) > self._limit:
            self._pending.clear()
            raise _WrongContentError(
                f"mirror {redact_url(self.mirror_url)} sends more than the {self._limit} "
                "bytes the Metalink describes: it serves another file"
            )
        if self._pieces is None:
            self._pass_on(data)
            return
        view = memoryview(data)
        # Bounded: every pass consumes at least one byte of ``data`` (the limit check
        # above guarantees a piece with room while bytes remain).
        while view:
            room = self._piece_length() - len(self._pending)
            assert room > 0
            self._pending += view[:room]
            view = view[room:]
            if len(self._pending) == self._piece_length():
                self._check_piece()

    def restart(self) -> None:
        """Forget everything (the source is sent again from byte 0)."""
        self._outer.restart()
        self._pending.clear()
        self._passed_on = 0
        self._pieces_done = 0
        self._whole = self._new_whole_hash()
        self.contributors.clear()

    def finish(self) -> None:
        """Check the end of the transfer: the last piece, the size, the whole-file hash.

        Raises:
            PieceChecksumError: the last piece does not match.
            WholeFileChecksumError: the whole file does not match.
            SourceUnavailableError: the mirror sent less than the Metalink describes.
        """
        if self._pieces is not None and self._pending and self._size_bytes is None:
            # Without <size>, the last piece is whatever follows the last full one.
            self._check_piece()
        if self._size_bytes is not None:
            short = self._passed_on < self._size_bytes
        else:
            short = self._pieces is not None and self._pieces_done < len(self._pieces.hex_digests)
        if short:
            self._pending.clear()
            raise SourceUnavailableError(
                f"mirror {redact_url(self.mirror_url)} ended the file after "
                f"{self._passed_on} verified bytes; the Metalink describes more"
                + (f" ({self._size_bytes} bytes)" if self._size_bytes is not None else "")
            )
        if self._checksum is not None:
            actual = self._tracked() if self._tracked is not None else self._hexdigest()
            if not hmac.compare_digest(actual, self._checksum.hex_digest):
                raise WholeFileChecksumError(
                    f"the file from {_listing(sorted(self.contributors))} does not match "
                    f"the Metalink's hash: expected {self._checksum}, got {actual}"
                )

    def _hexdigest(self) -> str:
        assert self._whole is not None
        return self._whole.hexdigest()

    def _check_switch(self) -> None:
        if self.switch.is_set():
            self.switch.clear()
            self._pending.clear()
            raise _SwitchMirrorError(f"leaving mirror {redact_url(self.mirror_url)}")

    def _piece_length(self) -> int:
        assert self._pieces is not None
        return self._pieces.expected_length(self._pieces_done, self._size_bytes)

    def _check_piece(self) -> None:
        assert self._pieces is not None
        index = self._pieces_done
        start = self._passed_on
        if index >= len(self._pieces.hex_digests):
            # Only reachable without <size>: more bytes than the pieces cover.
            self._pending.clear()
            raise _WrongContentError(
                f"mirror {redact_url(self.mirror_url)} sends more than the Metalink's "
                f"{len(self._pieces.hex_digests)} pieces: it serves another file"
            )
        actual = hashlib.new(self._pieces.algorithm.hashlib_name, self._pending).hexdigest()
        if not hmac.compare_digest(actual, self._pieces.hex_digests[index]):
            end = start + len(self._pending) - 1
            self._pending.clear()
            raise PieceChecksumError(
                f"piece {index} (bytes {start}-{end}) from {redact_url(self.mirror_url)} "
                f"does not match the Metalink's {self._pieces.algorithm} piece hash"
            )
        piece, self._pending = self._pending, bytearray()
        self._pass_on(piece)
        self._pieces_done += 1

    def _pass_on(self, data: bytes | bytearray | memoryview) -> None:
        self._outer.write(data)
        if self._whole is not None:
            self._whole.update(data)
        self._passed_on += len(data)
        self.contributors.add(self.mirror_url)

    def _new_whole_hash(self) -> "hashlib._Hash | None":
        if self._checksum is None or self._tracked is not None:
            return None
        return hashlib.new(self._checksum.algorithm.hashlib_name)


class LendingVerifyingSink(PieceVerifyingSink):
    """A PieceVerifyingSink without piece hashes over a sink that lends its buffers.

    Nothing has to be held back, so the mirror's bytes go straight into the engine's
    buffers (no copy) and the whole-file hash is the engine sink's (see ``track_digest``).
    """

    def __init__(
        self,
        outer: BufferedImageSink,
        *,
        checksum: Checksum | None,
        size_bytes: int | None,
    ) -> None:
        super().__init__(outer, pieces=None, checksum=checksum, size_bytes=size_bytes)
        if self._whole is not None:
            raise ValueError("the outer sink must compute the whole-file hash (track_digest)")
        self._lender = outer

    def buffer(self) -> memoryview:
        """Return the engine sink's free space for the next bytes."""
        self._check_switch()
        return self._lender.buffer()

    def commit(self, count: int) -> None:
        """Accept ``count`` bytes read into the last :meth:`buffer`."""
        if self._limit is not None and self.received_bytes + count > self._limit:
            raise _WrongContentError(
                f"mirror {redact_url(self.mirror_url)} sends more than the {self._limit} "
                "bytes the Metalink describes: it serves another file"
            )
        self._lender.commit(count)
        self._passed_on += count
        self.contributors.add(self.mirror_url)


class _SampleSink:
    """Takes a mirror's first bytes, timing them, and stops it once it has sent enough.

    It lends one small buffer of its own (see BufferedImageSink), so sampling does not make
    the downloader allocate its large one per sample, per thread: measured, three rounds of
    parallel samples otherwise grew the agent's peak RSS by about 17 MiB.
    """

    def __init__(self, limit_bytes: int, clock: Callable[[], float]) -> None:
        self._limit_bytes = limit_bytes
        self._clock = clock
        self._received = 0
        self._first_bytes = 0
        self._first_at: float | None = None
        self._last_at = 0.0
        # Anonymous mmap: unmapped when the sink goes, never left in a malloc arena.
        self._memory = mmap.mmap(-1, SAMPLE_READ_BYTES)

    def buffer(self) -> memoryview:
        return memoryview(self._memory)

    def commit(self, count: int) -> None:
        self._count(count)

    @property
    def received_bytes(self) -> int:
        return self._received

    def rate(self) -> float:
        """Bytes per second after the first read (0 until two reads arrived)."""
        return steady_rate(
            first_at=self._first_at,
            first_bytes=self._first_bytes,
            last_at=self._last_at,
            received_bytes=self._received,
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._count(len(data))

    def _count(self, count: int) -> None:
        self._received += count
        now = self._clock()
        if self._first_at is None:
            self._first_at, self._first_bytes = now, self._received
        self._last_at = now
        if self._received >= self._limit_bytes:
            raise _SampleDoneError

    def restart(self) -> None:
        self._received = 0
        self._first_bytes = 0
        self._first_at = None


def _covered_bytes(pieces: Pieces | None, size_bytes: int | None) -> int | None:
    if size_bytes is not None:
        return size_bytes
    if pieces is not None:
        return len(pieces.hex_digests) * pieces.length_bytes
    return None


def _listing(urls: Sequence[str]) -> str:
    return ", ".join(redact_url(url) for url in urls) or "no mirror"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


class MetalinkDownloader:
    """Downloads the file a Metalink describes from its mirrors, through ``inner``.

    ``inner`` maps a mirror's scheme (http, https, nfs) to the downloader for it; the
    Metalink document itself is fetched with ``inner["http"]``/``inner["https"]``. Holds
    no per-transfer state: safe to call from several threads at once.
    """

    def __init__(
        self,
        *,
        inner: Mapping[str, SinkDownloader],
        clock: Callable[[], float] = time.monotonic,
        max_parallel_probes: int = MAX_PARALLEL_PROBES,
        max_piece_bytes: int = MAX_PIECE_BYTES,
        sample_bytes: int = SAMPLE_BYTES,
        sample_min_file_bytes: int = SAMPLE_MIN_FILE_BYTES,
    ) -> None:
        if max_parallel_probes <= 0 or max_piece_bytes <= 0 or sample_bytes <= 0:
            raise ValueError(
                "max_parallel_probes, max_piece_bytes and sample_bytes must be positive"
            )
        self._inner = dict(inner)
        self._clock = clock
        self._max_parallel_probes = max_parallel_probes
        self._max_piece_bytes = max_piece_bytes
        self.sample_bytes = sample_bytes
        self.sample_min_file_bytes = sample_min_file_bytes

    def probe(self, request: DownloadRequest) -> MetalinkSourceInfo:
        """Fetch the Metalink, probe every mirror (in parallel), report each mirror's result.

        Sizes are the Metalink's ``<size>`` or the first working mirror's. A mirror whose
        size differs from ``<size>`` is reported as failed.

        Raises:
            DownloadError: the document could not be fetched or parsed, or no mirror works
                (the most telling mirror error's class; the message lists every mirror).
        """
        deadline = self._clock() + request.timeouts.total_s
        metalink = self._load(request, deadline)

        def check(url: str) -> tuple[SourceInfo | None, DownloadError | None]:
            if request.cancel.is_set():
                return None, DownloadCancelledError(f"check of {redact_url(url)} cancelled")
            try:
                info = self.inner_for(url).probe(self.mirror_request(request, url, deadline))
            except DownloadError as exc:
                return None, exc
            if (
                metalink.size_bytes is not None
                and info.physical_size_bytes is not None
                and info.physical_size_bytes != metalink.size_bytes
            ):
                return None, SourceUnavailableError(
                    f"mirror {redact_url(url)} serves {info.physical_size_bytes} bytes; "
                    f"the Metalink says the file has {metalink.size_bytes}"
                )
            return info, None

        workers = min(self._max_parallel_probes, len(metalink.mirrors))
        with ThreadPoolExecutor(workers, thread_name_prefix="metalink-probe") as executor:
            results = list(executor.map(check, metalink.mirrors))
        if request.cancel.is_set():
            raise DownloadCancelledError(f"check of Metalink {redact_url(request.url)} cancelled")
        checks = tuple(
            MirrorCheck(
                url=redact_url(url),
                ok=error is None,
                error=None if error is None else ErrorInfo(code=error.code, message=str(error)),
            )
            for url, (_, error) in zip(metalink.mirrors, results, strict=True)
        )
        failures = [
            (url, error)
            for url, (_, error) in zip(metalink.mirrors, results, strict=True)
            if error is not None
        ]
        for url, error in failures:
            logger.warning(
                "mirror %s of %s failed its check: %s",
                redact_url(url),
                redact_url(request.url),
                error,
            )
        working = [info for info, _ in results if info is not None]
        if not working:
            raise _no_mirror_works(request.url, failures)
        first = working[0]
        physical = metalink.size_bytes
        if physical is None:
            physical = first.physical_size_bytes
        # Only a qcow2 header tells a virtual size apart; otherwise they are the same.
        wants_header = request.image_format.upper() == "QCOW2"
        virtual = first.virtual_size_bytes if wants_header else physical
        return MetalinkSourceInfo(
            physical_size_bytes=physical, virtual_size_bytes=virtual, mirrors=checks
        )

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        """Stream the file into ``sink`` from the mirrors, best first, failing over.

        A mirror that fails hands over to the next, which continues where the last
        verified byte ended (the inner downloader resumes from ``received_bytes``). A piece
        whose hash does not match is fetched again from another mirror; each mirror is
        tried at most once per piece. The Metalink's strongest whole-file hash is checked
        at the end (in addition to the template's own checksum, which the engine checks);
        on a mismatch the file is sent again from byte 0 by a mirror that did not take part.

        Raises:
            DownloadError: no mirror could deliver (the message lists what each did), the
                transfer was cancelled, or the total time limit passed.
            OSError: writing into ``sink`` failed.
        """
        deadline = self._clock() + request.timeouts.total_s
        metalink = self._load(request, deadline)
        pieces = metalink.pieces
        if pieces is not None and pieces.length_bytes > self._max_piece_bytes:
            logger.warning(
                "Metalink %s has pieces of %d bytes (more than %d): pieces not checked",
                redact_url(request.url),
                pieces.length_bytes,
                self._max_piece_bytes,
            )
            pieces = None
        checksum = metalink.strongest_checksum()
        verifying: PieceVerifyingSink
        if (
            pieces is None
            and isinstance(sink, BufferedImageSink)
            and (checksum is None or isinstance(sink, _DigestTracking))
            and not sink.received_bytes
        ):
            verifying = LendingVerifyingSink(
                sink, checksum=checksum, size_bytes=metalink.size_bytes
            )
        else:
            verifying = PieceVerifyingSink(
                sink, pieces=pieces, checksum=checksum, size_bytes=metalink.size_bytes
            )
        _FailoverTransfer(self, request, metalink, verifying, deadline).run()

    def _load(self, request: DownloadRequest, deadline: float) -> Metalink:
        scheme = urlsplit(request.url).scheme.lower()
        downloader = self._inner.get(scheme) if scheme in DOCUMENT_SCHEMES else None
        if downloader is None:
            raise UnsupportedUrlError(
                f"a Metalink is fetched over {' or '.join(DOCUMENT_SCHEMES)} only: "
                f"{redact_url(request.url)}"
            )
        document = _DocumentSink(request.url)
        document_request = dataclasses.replace(
            request,
            progress=_ignore_progress,
            timeouts=self._remaining(request, deadline),
        )
        downloader.fetch(document_request, document)
        metalink = parse_metalink(document.data)
        for skipped in metalink.skipped:
            logger.info(
                "Metalink %s: skipping %s (%s)",
                redact_url(request.url),
                redact_url(skipped.url),
                skipped.reason,
            )
        return metalink

    @property
    def clock(self) -> Callable[[], float]:
        """The clock deadlines are measured with."""
        return self._clock

    def inner_for(self, url: str) -> SinkDownloader:
        """Return the downloader for a mirror's scheme.

        Raises:
            UnsupportedUrlError: none is configured for it.
        """
        scheme = urlsplit(url).scheme.lower()
        downloader = self._inner.get(scheme)
        if downloader is None:
            raise UnsupportedUrlError(
                f"no downloader for scheme {scheme!r} of mirror {redact_url(url)}"
            )
        return downloader

    def mirror_request(
        self, request: DownloadRequest, url: str, deadline: float
    ) -> DownloadRequest:
        """Return ``request`` aimed at mirror ``url``, with the time left until ``deadline``.

        Raises:
            DownloadTimeoutError: the deadline has passed.
        """
        # The command's headers may hold credentials: they go to mirrors on the Metalink's
        # own origin only, as HttpDownloader does for redirects (and curl does).
        same_origin = _origin(url) == _origin(request.url)
        return dataclasses.replace(
            request,
            url=url,
            headers=request.headers if same_origin else {},
            timeouts=self._remaining(request, deadline),
        )

    def _remaining(self, request: DownloadRequest, deadline: float) -> Timeouts:
        remaining_s = deadline - self._clock()
        if remaining_s <= 0:
            raise DownloadTimeoutError(
                f"transfer of Metalink {redact_url(request.url)} exceeded its total time limit"
            )
        return dataclasses.replace(request.timeouts, total_s=remaining_s)


class _FailoverTransfer:
    """One fetch's walk over the mirrors; bounded by mirrors x ATTEMPTS_PER_MIRROR."""

    def __init__(
        self,
        downloader: MetalinkDownloader,
        request: DownloadRequest,
        metalink: Metalink,
        sink: PieceVerifyingSink,
        deadline: float,
    ) -> None:
        self._downloader = downloader
        self._request = request
        self._metalink = metalink
        self._sink = sink
        self._deadline = deadline
        self._dead: set[str] = set()
        # (mirror, piece) pairs that went wrong: each mirror is asked for a piece once.
        self._tried: set[tuple[str, int]] = set()
        self._failures: list[tuple[str, DownloadError]] = []
        # The mirror the sampler found much faster than the one in use; tried next.
        self._preferred: str | None = None
        self._current = ""
        self._sampler: threading.Thread | None = None
        self._over = threading.Event()

    def run(self) -> None:
        mirrors = self._metalink.mirrors
        try:
            # A move to a faster mirror costs no attempt: at most one per mirror sampled.
            for _ in range(len(mirrors) * (ATTEMPTS_PER_MIRROR + 1)):
                if self._request.cancel.is_set():
                    raise DownloadCancelledError(
                        f"download of Metalink {redact_url(self._request.url)} cancelled"
                    )
                url = self._next_mirror()
                if url is None:
                    break
                if self._attempt(url):
                    return
        finally:
            self._over.set()
            if self._sampler is not None:
                self._sampler.join(SAMPLE_S + self._request.timeouts.connect_s)
        raise _no_mirror_works(self._request.url, self._failures)

    def _next_mirror(self) -> str | None:
        piece = self._sink.piece_index
        preferred, self._preferred = self._preferred, None
        return next_mirror(
            self._metalink.mirrors,
            preferred=preferred,
            dead=self._dead,
            tried=self._tried,
            piece=piece,
        )

    def _sampling_once_flowing(self, request: DownloadRequest) -> DownloadRequest:
        """Start the sampler when this mirror's bytes flow, not before it even connected.

        Started earlier, the first round raced a dead mirror's failure and the start of the
        transfer, and timed every mirror far too slow.
        """
        start = self._sink.received_bytes
        report = request.progress

        def progress(bytes_done: int, bytes_total: int | None) -> None:
            if self._sampler is None and bytes_done > start:
                self._start_sampler()
            report(bytes_done, bytes_total)

        return dataclasses.replace(request, progress=progress)

    def _start_sampler(self) -> None:
        """Time every live mirror once, in the background, while the transfer runs."""
        live = live_mirrors(self._metalink.mirrors, self._dead)
        if self._sampler is not None or not worth_sampling(
            live,
            vouched=self._sink.vouched,
            size_bytes=self._metalink.size_bytes,
            min_file_bytes=self._downloader.sample_min_file_bytes,
        ):
            return
        self._sampler = threading.Thread(
            target=self._sample_rounds, name="metalink-sampler", daemon=True
        )
        self._sampler.start()

    def _sample_rounds(self) -> None:
        """Sample the live mirrors a few times while the transfer runs, until it moves."""
        for round_number in range(SAMPLE_ROUNDS):
            if round_number and self._over.wait(SAMPLE_EVERY_S):
                return
            live = live_mirrors(self._metalink.mirrors, self._dead)
            if len(live) < 2 or self._current not in live:
                return
            if self._sample_all(live):
                return

    def _sample_all(self, urls: list[str]) -> bool:
        """Sample ``urls`` at once; True if the transfer is to move (or is over)."""
        clock = self._downloader.clock
        sinks = {url: _SampleSink(self._downloader.sample_bytes, clock) for url in urls}
        began = clock()
        give_up = began + SAMPLE_S + self._request.timeouts.connect_s
        with ThreadPoolExecutor(min(len(urls), MAX_PARALLEL_PROBES)) as executor:
            futures = {url: executor.submit(self._sample, url, sinks[url]) for url in urls}
            # Bounded: every sample ends within SAMPLE_S of connecting, and so does this.
            while not self._over.is_set() and clock() < give_up:
                rates = {url: future.result() for url, future in futures.items() if future.done()}
                current = self._current
                # A sample still running has delivered at most this much so far: a mirror
                # far faster than that is worth moving to without waiting for the end.
                elapsed_s = clock() - began
                current_rate = rates.get(
                    current, average_rate(sinks[current].received_bytes, elapsed_s)
                )
                if rates and self._decide(rates, current, current_rate):
                    return True
                if len(rates) == len(urls):
                    return False
                wait(list(futures.values()), timeout=0.01, return_when=FIRST_COMPLETED)
        return self._over.is_set()

    def _decide(self, rates: dict[str, float], current: str, current_rate: float) -> bool:
        """Move to the fastest sampled mirror if it beats ``current``; True if it moves."""
        best = faster_mirror(rates, current, current_rate)
        if best is None:
            # Not (yet) worth it: a sample still running may be the fast one.
            return False
        logger.info(
            "Metalink %s: moving from mirror %s (%.0f MB/s) to %s (%.0f MB/s)",
            redact_url(self._request.url),
            redact_url(current),
            current_rate / 1e6,
            redact_url(best),
            rates[best] / 1e6,
        )
        self._preferred = best
        self._sink.switch.set()
        return True

    def _sample(self, url: str, sink: "_SampleSink") -> float:
        """Return the bytes per second ``url`` delivers a sample at (0: none)."""
        clock = self._downloader.clock
        began = clock()
        try:
            request = self._downloader.mirror_request(self._request, url, self._deadline)
            request = dataclasses.replace(
                request,
                progress=_ignore_progress,
                timeouts=dataclasses.replace(
                    request.timeouts, total_s=min(SAMPLE_S, request.timeouts.total_s)
                ),
            )
            self._downloader.inner_for(url).fetch(request, sink)
        except _SampleDoneError:
            pass
        except DownloadError as exc:
            if not isinstance(exc, DownloadTimeoutError):
                return 0.0
        # The steady rate once data flows; a sample that came in one read has only its total.
        return sink.rate() or average_rate(sink.received_bytes, clock() - began)

    def _attempt(self, url: str) -> bool:
        """Fetch from ``url`` onwards; True when the file is complete and verified."""
        sink = self._sink
        sink.begin(url)
        sink.switch.clear()
        self._current = url
        if sink.received_bytes and not sink.vouched:
            # Mirrors have no common validator (If-Range is per URL): joining one's bytes
            # to another's is safe only when a Metalink hash would catch a bad join.
            sink.restart()
        # Outside the try: running out of time is the transfer's failure, not the mirror's.
        request = self._downloader.mirror_request(self._request, url, self._deadline)
        try:
            # A mirror that died after the last byte leaves nothing to ask for, and a Range
            # starting at the end would only get a 416.
            if not sink.complete:
                logger.info(
                    "Metalink %s: fetching from mirror %s at byte %d",
                    redact_url(self._request.url),
                    redact_url(url),
                    sink.received_bytes,
                )
                self._downloader.inner_for(url).fetch(self._sampling_once_flowing(request), sink)
            sink.finish()
        except _SwitchMirrorError:
            return False
        except PieceChecksumError as exc:
            self._fail(url, exc)
            self._tried.add((url, sink.piece_index))
            return False
        except WholeFileChecksumError as exc:
            # Which mirror sent the bad bytes is unknown: none of those that sent any is
            # asked again, and the file starts over from byte 0.
            self._fail(url, exc, dead=sink.contributors | {url})
            sink.restart()
            return False
        except _WrongContentError as exc:
            self._fail(url, exc, dead={url})
            if not sink.has_pieces:
                # What it sent before is suspect too: no piece hash vouches for it.
                sink.restart()
            return False
        except DownloadError as exc:
            if not another_mirror_may_help(exc.code):
                raise
            self._fail(url, exc, dead={url})
            return False
        return True

    def _fail(self, url: str, exc: DownloadError, *, dead: set[str] | None = None) -> None:
        logger.warning(
            "Metalink %s: mirror %s failed: %s",
            redact_url(self._request.url),
            redact_url(url),
            exc,
        )
        self._failures.append((url, exc))
        self._dead |= dead or set()


def _no_mirror_works(
    metalink_url: str, failures: Sequence[tuple[str, DownloadError]]
) -> DownloadError:
    error_class: type[DownloadError] = SourceUnavailableError
    for candidate in _MOST_TELLING:
        if any(isinstance(error, candidate) for _, error in failures):
            error_class = candidate
            break
    details = "; ".join(f"{redact_url(url)}: [{error.code}] {error}" for url, error in failures)
    return error_class(
        f"no mirror of Metalink {redact_url(metalink_url)} works: "
        + (details or "no mirror left to try")
    )
