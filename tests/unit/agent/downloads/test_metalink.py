import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from kvmcloud.agent.downloads.base import (
    BufferedImageSink,
    DownloadRequest,
    ImageSink,
    SourceInfo,
)
from kvmcloud.agent.downloads.errors import (
    DownloadCancelledError,
    DownloadError,
    DownloadTimeoutError,
    ImageRejectedError,
    PoolFullError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceUnavailableError,
    UnsupportedUrlError,
)
from kvmcloud.agent.downloads.metalink import (
    LendingVerifyingSink,
    MetalinkChecksumError,
    MetalinkDownloader,
    MetalinkSourceInfo,
    PieceVerifyingSink,
)
from kvmcloud.agent.downloads.metalink_format import MAX_DOCUMENT_BYTES, MetalinkError, Pieces
from kvmcloud.agent.downloads.sink import PoolFileSink
from kvmcloud.protocol.agent_messages import ErrorInfo, MirrorCheck, Timeouts
from kvmcloud.protocol.checksums import Checksum, ChecksumAlgorithm
from kvmcloud.protocol.error_codes import ErrorCode
from tests.support.metalink import meta4, pieces_of

DATA = bytes(range(256)) * 64  # 16 KiB
PIECE = 4096
SHA256 = hashlib.sha256(DATA).hexdigest()
DOC_URL = "https://meta.example/t.meta4"
A, B, C = "http://a.example/t.raw", "http://b.example/t.raw", "http://c.example/t.raw"


def corrupt(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


@dataclass
class FakeSink:
    """The engine's sink: keeps the bytes, counts restarts."""

    data: bytearray = field(default_factory=bytearray)
    restarts: int = 0
    fail_with: Exception | None = None

    @property
    def received_bytes(self) -> int:
        return len(self.data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.data += data

    def restart(self) -> None:
        self.data.clear()
        self.restarts += 1


@dataclass
class FakeSources:
    """Per-scheme downloader with the new contract: resumes from sink.received_bytes."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, DownloadError] = field(default_factory=dict)
    probe_sizes: dict[str, int] = field(default_factory=dict)
    virtual_sizes: dict[str, int] = field(default_factory=dict)
    break_at: dict[str, int] = field(default_factory=dict)  # absolute offset
    no_ranges: set[str] = field(default_factory=set)
    chunk_size_bytes: int = 1000
    fetches: list[tuple[str, int]] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    headers_seen: dict[str, Mapping[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called after each fetch (whatever happened): lets a test act between mirrors.
    after_fetch: Callable[[DownloadRequest], None] | None = None

    def probe(self, request: DownloadRequest) -> SourceInfo:
        with self.lock:
            self.probes.append(request.url)
            self.headers_seen[request.url] = dict(request.headers)
        if request.url in self.errors:
            raise self.errors[request.url]
        size = self.probe_sizes.get(request.url, len(self.bodies[request.url]))
        return SourceInfo(size, self.virtual_sizes.get(request.url, size))

    def fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        try:
            self._fetch(request, sink)
        finally:
            if self.after_fetch is not None:
                self.after_fetch(request)

    def _fetch(self, request: DownloadRequest, sink: ImageSink) -> None:
        start = sink.received_bytes
        self.fetches.append((request.url, start))
        self.headers_seen[request.url] = dict(request.headers)
        if request.url in self.errors:
            raise self.errors[request.url]
        body = self.bodies[request.url]
        if start and request.url in self.no_ranges:
            sink.restart()
            start = 0
        request.progress(start, len(body))
        for offset in range(start, len(body), self.chunk_size_bytes):
            if offset >= self.break_at.get(request.url, len(body)):
                raise SourceUnavailableError(f"connection reset by {request.url}")
            chunk = body[offset : offset + self.chunk_size_bytes]
            sink.write(memoryview(bytearray(chunk)))
            request.progress(offset + len(chunk), len(body))


def downloader(sources: FakeSources, **kwargs: object) -> MetalinkDownloader:
    return MetalinkDownloader(
        inner={"http": sources, "https": sources, "nfs": sources},
        **kwargs,  # type: ignore[arg-type]
    )


def request(url: str = DOC_URL, **kwargs: object) -> DownloadRequest:
    return DownloadRequest(url=url, **kwargs)  # type: ignore[arg-type]


def serve(sources: FakeSources, document: bytes, **mirrors: bytes) -> None:
    sources.bodies[DOC_URL] = document
    sources.bodies.update({url: body for url, body in mirrors.items()})


# probe -----------------------------------------------------------------------------------


def test_probe_checks_every_mirror_and_reports_each():
    sources = FakeSources()
    sources.bodies.update({DOC_URL: meta4([(A, 1), (B, 2), (C, 3)], size=len(DATA)), C: DATA})
    sources.errors[A] = SourceUnavailableError(f"connection refused by a.example:80 for {A}")
    sources.errors[B] = SourceNotFoundError(f"HTTP 404 Not Found from {B}")

    info = downloader(sources).probe(request())

    assert isinstance(info, MetalinkSourceInfo)
    assert sorted(sources.probes) == [A, B, C]
    assert info.mirrors == (
        MirrorCheck(
            url=A,
            ok=False,
            error=ErrorInfo(
                code=ErrorCode.SOURCE_UNAVAILABLE,
                message=f"connection refused by a.example:80 for {A}",
            ),
        ),
        MirrorCheck(
            url=B,
            ok=False,
            error=ErrorInfo(
                code=ErrorCode.SOURCE_NOT_FOUND, message=f"HTTP 404 Not Found from {B}"
            ),
        ),
        MirrorCheck(url=C, ok=True),
    )
    assert (info.physical_size_bytes, info.virtual_size_bytes) == (len(DATA), len(DATA))


def test_probe_sizes_come_from_the_first_working_mirror_without_size():
    sources = FakeSources(bodies={DOC_URL: meta4([(A, 1), (B, 2)]), A: DATA, B: DATA[:10]})
    sources.virtual_sizes[A] = 10 * 1024 * 1024

    info = downloader(sources).probe(request(image_format="QCOW2"))

    assert (info.physical_size_bytes, info.virtual_size_bytes) == (len(DATA), 10 * 1024 * 1024)


def test_probe_raw_virtual_size_is_the_physical_size():
    sources = FakeSources(bodies={DOC_URL: meta4([(A, 1)], size=len(DATA)), A: DATA})
    sources.probe_sizes[A] = len(DATA)

    info = downloader(sources).probe(request(image_format="RAW"))

    assert (info.physical_size_bytes, info.virtual_size_bytes) == (len(DATA), len(DATA))


def test_probe_fails_a_mirror_whose_size_differs_from_the_metalink():
    sources = FakeSources(bodies={DOC_URL: meta4([(A, 1), (B, 2)], size=len(DATA))})
    sources.bodies.update({A: DATA + b"x", B: DATA})

    info = downloader(sources).probe(request())

    assert [m.ok for m in info.mirrors] == [False, True]
    assert info.mirrors[0].error is not None
    assert "serves 16385 bytes; the Metalink says the file has 16384" in (
        info.mirrors[0].error.message
    )


def test_probe_fails_only_when_no_mirror_works_and_names_each():
    sources = FakeSources(bodies={DOC_URL: meta4([(A, 1), (B, 2)])})
    sources.errors[A] = SourceUnavailableError("connection refused")
    sources.errors[B] = SourceDeniedError("HTTP 403 Forbidden")

    with pytest.raises(SourceDeniedError) as caught:
        downloader(sources).probe(request())

    message = str(caught.value)
    assert f"{A}: [source_unavailable] connection refused" in message
    assert f"{B}: [source_denied] HTTP 403 Forbidden" in message


def test_probe_masks_credentials_in_mirror_urls():
    secret = "http://user:pw@a.example/t.raw?sig=s3cret"
    sources = FakeSources(bodies={DOC_URL: meta4([(secret, 1)]), secret: DATA})

    info = downloader(sources).probe(request())

    assert info.mirrors == (MirrorCheck(url="http://user:***@a.example/t.raw?sig=***", ok=True),)


def test_headers_go_only_to_mirrors_on_the_metalinks_origin():
    same = "https://meta.example/images/t.raw"
    sources = FakeSources(bodies={DOC_URL: meta4([(same, 1), (A, 2)]), same: DATA, A: DATA})

    downloader(sources).probe(request(headers={"X-Auth-Token": "secret"}))

    assert sources.headers_seen[DOC_URL] == {"X-Auth-Token": "secret"}
    assert sources.headers_seen[same] == {"X-Auth-Token": "secret"}
    assert sources.headers_seen[A] == {}


def test_probe_propagates_the_documents_own_failure():
    sources = FakeSources(errors={DOC_URL: SourceNotFoundError(f"HTTP 404 from {DOC_URL}")})

    with pytest.raises(SourceNotFoundError, match="HTTP 404"):
        downloader(sources).probe(request())

    assert sources.probes == []


def test_a_document_over_the_size_bound_is_refused_while_streaming():
    sources = FakeSources(bodies={DOC_URL: b" " * (MAX_DOCUMENT_BYTES + 1)}, chunk_size_bytes=65536)

    with pytest.raises(MetalinkError, match="larger than"):
        downloader(sources).probe(request())


def test_a_metalink_over_nfs_is_refused_like_the_server_does():
    with pytest.raises(UnsupportedUrlError, match="fetched over http or https only"):
        downloader(FakeSources()).probe(request("nfs://server/export/t.meta4"))


def test_a_mirror_scheme_without_a_downloader_fails_that_mirror():
    sources = FakeSources(bodies={DOC_URL: meta4([("nfs://s/e/t.raw", 1), (A, 2)]), A: DATA})
    metalink = MetalinkDownloader(inner={"http": sources, "https": sources})

    info = metalink.probe(request())

    assert info.mirrors[0].error is not None
    assert info.mirrors[0].error.code is ErrorCode.UNSUPPORTED_URL
    assert info.mirrors[1].ok


# fetch: failover -------------------------------------------------------------------------


def test_fetch_uses_the_best_mirror_first():
    sources = FakeSources()
    serve(sources, meta4([(B, 2), (A, 1)], size=len(DATA), hashes={"sha-256": SHA256}))
    sources.bodies.update({A: DATA, B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sources.fetches == [(DOC_URL, 0), (A, 0)]


def test_fetch_fails_over_to_the_next_mirror_at_once():
    sources = FakeSources(errors={A: SourceUnavailableError("refused")})
    serve(sources, meta4([(A, 1), (B, 2)]))
    sources.bodies[B] = DATA
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sources.fetches[1:] == [(A, 0), (B, 0)]


def test_a_mirror_that_breaks_midway_hands_over_and_the_next_resumes():
    sources = FakeSources(break_at={A: 5000})
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), hashes={"sha-256": SHA256}))
    sources.bodies.update({A: DATA, B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sources.fetches[1:] == [(A, 0), (B, 5000)]
    assert sink.restarts == 0


def test_without_a_metalink_hash_the_next_mirror_starts_over():
    sources = FakeSources(break_at={A: 5000})
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA)))
    sources.bodies.update({A: DATA, B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sources.fetches[1:] == [(A, 0), (B, 0)]
    assert sink.restarts == 1


def test_the_next_mirror_without_ranges_restarts_from_zero():
    sources = FakeSources(break_at={A: 5000}, no_ranges={B})
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), hashes={"sha-256": SHA256}))
    sources.bodies.update({A: DATA, B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sink.restarts == 1


def test_when_every_mirror_fails_the_error_lists_them():
    sources = FakeSources(
        errors={A: SourceUnavailableError("refused"), B: SourceNotFoundError("HTTP 404")}
    )
    serve(sources, meta4([(A, 1), (B, 2)]))

    with pytest.raises(SourceNotFoundError) as caught:
        downloader(sources).fetch(request(), FakeSink())

    assert f"{A}: [source_unavailable] refused; {B}: [source_not_found] HTTP 404" in str(
        caught.value
    )


@pytest.mark.parametrize(
    "error",
    [
        ImageRejectedError("not a gzip stream"),
        PoolFullError("pool has 10 bytes available"),
        DownloadCancelledError("cancelled"),
    ],
)
def test_errors_that_are_not_the_mirrors_fault_stop_at_once(error):
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)]))
    sources.bodies.update({A: DATA, B: DATA})

    with pytest.raises(type(error)):
        downloader(sources).fetch(request(), FakeSink(fail_with=error))

    assert [url for url, _ in sources.fetches] == [DOC_URL, A]


def test_a_pool_write_error_propagates_as_oserror():
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)]))
    sources.bodies.update({A: DATA, B: DATA})

    with pytest.raises(OSError, match="No space"):
        downloader(sources).fetch(request(), FakeSink(fail_with=OSError(28, "No space left")))


def test_cancel_stops_before_the_next_mirror():
    cancel = threading.Event()
    sources = FakeSources(errors={A: SourceUnavailableError("refused")})
    serve(sources, meta4([(A, 1), (B, 2)]))
    sources.bodies[B] = DATA

    def cancel_after_a(req: DownloadRequest) -> None:
        if req.url == A:
            cancel.set()

    sources.after_fetch = cancel_after_a

    with pytest.raises(DownloadCancelledError):
        downloader(sources).fetch(request(cancel=cancel), FakeSink())

    assert [url for url, _ in sources.fetches] == [DOC_URL, A]


def test_the_total_deadline_covers_every_mirror():
    now = [0.0]

    def clock() -> float:
        return now[0]

    sources = FakeSources(errors={A: SourceUnavailableError("refused")})
    serve(sources, meta4([(A, 1), (B, 2)]))
    sources.bodies[B] = DATA

    def six_seconds_pass(req: DownloadRequest) -> None:
        now[0] += 6.0

    sources.after_fetch = six_seconds_pass

    with pytest.raises(DownloadTimeoutError, match="exceeded its total time limit"):
        downloader(sources, clock=clock).fetch(request(timeouts=Timeouts(total_s=10.0)), FakeSink())


def test_the_documents_progress_is_not_reported_but_the_images_is():
    seen: list[tuple[int, int | None]] = []
    sources = FakeSources()
    serve(sources, meta4([(A, 1)]))
    sources.bodies[A] = DATA

    downloader(sources).fetch(
        request(progress=lambda done, total: seen.append((done, total))), FakeSink()
    )

    assert seen[0] == (0, len(DATA))
    assert seen[-1] == (len(DATA), len(DATA))


# fetch: hashes ---------------------------------------------------------------------------


def test_a_corrupted_piece_is_fetched_again_from_the_next_mirror():
    pieces = pieces_of(DATA, PIECE)
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), pieces=pieces))
    sources.bodies.update({A: corrupt(DATA, 2 * PIECE + 7), B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    # Pieces 0 and 1 came from A; B continued at the start of the bad piece 2.
    assert sources.fetches[1:] == [(A, 0), (B, 2 * PIECE)]
    assert sink.restarts == 0


def test_a_mirror_with_a_bad_piece_may_serve_a_later_one():
    pieces = pieces_of(DATA, PIECE)
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), pieces=pieces))
    sources.bodies.update({A: corrupt(DATA, PIECE + 1), B: corrupt(DATA, 3 * PIECE + 1)})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sources.fetches[1:] == [(A, 0), (B, PIECE), (A, 3 * PIECE)]


def test_a_piece_bad_on_every_mirror_is_a_checksum_mismatch():
    pieces = pieces_of(DATA, PIECE)
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), pieces=pieces))
    sources.bodies.update({A: corrupt(DATA, PIECE), B: corrupt(DATA, PIECE)})
    sink = FakeSink()

    with pytest.raises(MetalinkChecksumError) as caught:
        downloader(sources).fetch(request(), sink)

    assert caught.value.code is ErrorCode.CHECKSUM_MISMATCH
    assert "piece 1 (bytes 4096-8191)" in str(caught.value)
    # Only verified pieces ever reached the engine's sink.
    assert bytes(sink.data) == DATA[:PIECE]
    assert sources.fetches[1:] == [(A, 0), (B, PIECE)]


def test_the_last_short_piece_is_checked_too():
    data = DATA + b"tail"
    pieces = pieces_of(data, PIECE)
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(data), pieces=pieces))
    sources.bodies.update({A: data[:-1] + b"X", B: data})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == data
    assert sources.fetches[1:] == [(A, 0), (B, 4 * PIECE)]


def test_pieces_without_size_check_the_last_piece_at_the_end():
    data = DATA + b"tail"
    pieces = pieces_of(data, PIECE)
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], pieces=pieces))
    sources.bodies.update({A: data[:-1] + b"X", B: data})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == data


def test_a_whole_file_mismatch_starts_over_on_a_mirror_that_took_no_part():
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), hashes={"sha-256": SHA256}))
    sources.bodies.update({A: corrupt(DATA, 100), B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sink.restarts == 1
    assert sources.fetches[1:] == [(A, 0), (B, 0)]


def test_a_whole_file_mismatch_everywhere_is_a_checksum_mismatch():
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), hashes={"sha-256": "0" * 64}))
    sources.bodies.update({A: DATA, B: DATA})

    with pytest.raises(MetalinkChecksumError, match="does not match the Metalink's hash"):
        downloader(sources).fetch(request(), FakeSink())


def test_a_mirror_serving_a_bigger_file_is_dropped_and_the_next_starts_over():
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA)))
    sources.bodies.update({A: DATA + b"more", B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sink.restarts == 1


def test_a_mirror_serving_a_shorter_file_hands_over_at_its_end():
    sources = FakeSources()
    serve(sources, meta4([(A, 1), (B, 2)], size=len(DATA), hashes={"sha-256": SHA256}))
    sources.bodies.update({A: DATA[:9000], B: DATA})
    sink = FakeSink()

    downloader(sources).fetch(request(), sink)

    assert bytes(sink.data) == DATA
    assert sources.fetches[1:] == [(A, 0), (B, 9000)]


def test_pieces_longer_than_the_buffer_limit_are_not_checked():
    pieces = pieces_of(DATA, PIECE)
    sources = FakeSources()
    serve(sources, meta4([(A, 1)], size=len(DATA), pieces=pieces))
    sources.bodies[A] = corrupt(DATA, 10)
    sink = FakeSink()

    downloader(sources, max_piece_bytes=PIECE - 1).fetch(request(), sink)

    assert bytes(sink.data) == sources.bodies[A]


def test_attempts_are_bounded_when_mirrors_keep_failing():
    sources = FakeSources()
    mirrors = [(f"http://m{i}.example/t", i + 1) for i in range(3)]
    serve(sources, meta4(mirrors, size=len(DATA), pieces=pieces_of(DATA, PIECE)))
    sources.bodies.update({url: corrupt(DATA, 0) for url, _ in mirrors})

    with pytest.raises(MetalinkChecksumError):
        downloader(sources).fetch(request(), FakeSink())

    assert len(sources.fetches) == 1 + 3  # the document, then each mirror once for piece 0


# PieceVerifyingSink ----------------------------------------------------------------------


def test_the_verifying_sink_holds_a_piece_until_it_is_complete():
    outer = FakeSink()
    pieces = Pieces(
        ChecksumAlgorithm.SHA256, PIECE, tuple(pieces_of(DATA, PIECE, "sha-256").digests)
    )
    sink = PieceVerifyingSink(
        outer,
        pieces=pieces,
        checksum=Checksum(ChecksumAlgorithm.SHA256, SHA256),
        size_bytes=len(DATA),
    )
    sink.begin(A)

    sink.write(DATA[:5000])

    assert (sink.received_bytes, outer.received_bytes) == (5000, PIECE)
    sink.write(DATA[5000:])
    sink.finish()
    assert bytes(outer.data) == DATA


def test_the_verifying_sink_restart_restarts_the_engines_sink():
    outer = FakeSink()
    sink = PieceVerifyingSink(outer, pieces=None, checksum=None, size_bytes=None)
    sink.begin(A)
    sink.write(b"abc")

    sink.restart()

    assert (sink.received_bytes, outer.received_bytes, outer.restarts) == (0, 0, 1)


@pytest.mark.parametrize("template_algorithm", ["sha256", "md5", None])
def test_the_engines_sink_computes_the_whole_file_hash(tmp_path, template_algorithm):
    template = (
        None
        if template_algorithm is None
        else Checksum.parse(hashlib.new(template_algorithm, DATA).hexdigest()).new_verifier()
    )
    with PoolFileSink(tmp_path / "t.part", template) as outer:
        sink = LendingVerifyingSink(
            outer, checksum=Checksum(ChecksumAlgorithm.SHA256, SHA256), size_bytes=len(DATA)
        )
        assert isinstance(sink, BufferedImageSink)
        sink.begin(A)
        space = sink.buffer()
        space[:1000] = DATA[:1000]
        sink.commit(1000)
        sink.write(DATA[1000:])
        sink.finish()
        outer.finish()
    assert (tmp_path / "t.part").read_bytes() == DATA


def test_a_whole_file_mismatch_is_found_through_the_engines_sink(tmp_path):
    with PoolFileSink(tmp_path / "t.part", None) as outer:
        sink = PieceVerifyingSink(
            outer,
            pieces=None,
            checksum=Checksum(ChecksumAlgorithm.SHA256, SHA256),
            size_bytes=len(DATA),
        )
        sink.begin(A)
        sink.write(bytes(len(DATA)))
        with pytest.raises(MetalinkChecksumError, match="does not match"):
            sink.finish()


def test_a_switch_request_stops_the_mirror_at_its_next_write():
    outer = FakeSink()
    sink = PieceVerifyingSink(outer, pieces=None, checksum=None, size_bytes=None)
    sink.begin(A)
    sink.write(b"abc")
    sink.switch.set()

    with pytest.raises(Exception, match="leaving mirror"):
        sink.write(b"def")
    assert sink.received_bytes == 3 and not sink.switch.is_set()
