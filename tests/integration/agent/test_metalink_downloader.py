import hashlib
import inspect
from collections.abc import Iterator

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.errors import SourceUnavailableError
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.metalink import MetalinkDownloader
from kvmcloud.protocol.agent_messages import Timeouts
from kvmcloud.protocol.error_codes import ErrorCode
from tests.support.egress import LOOPBACK_POLICY
from tests.support.metalink import meta4, metalink_v3, pieces_of
from tests.support.origin import Origin

pytestmark = pytest.mark.skipif(
    "sink" not in inspect.signature(HttpDownloader.fetch).parameters,
    reason="HttpDownloader.fetch(request, sink) has not landed yet (ImageSink migration)",
)

DATA = bytes(range(256)) * 4096  # 1 MiB
SHA256 = hashlib.sha256(DATA).hexdigest()
PIECE = 256 * 1024
FAST = Timeouts(connect_s=2, read_s=0.5, request_s=2, total_s=30)


class HashingSink:
    """The engine's sink as far as a downloader can tell: hashes what it is given."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._received = 0
        self.restarts = 0

    @property
    def received_bytes(self) -> int:
        return self._received

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self._received += len(data)

    def restart(self) -> None:
        self._hash = hashlib.sha256()
        self._received = 0
        self.restarts += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@pytest.fixture
def metalink() -> MetalinkDownloader:
    # Short reconnect pauses: a dead or slow mirror must not make the suite wait seconds.
    http = HttpDownloader(buffer_size_bytes=64 * 1024, reconnect_pause_s=0.01)
    return MetalinkDownloader(inner={"http": http, "https": http})


@pytest.fixture
def mirrors() -> Iterator[tuple[Origin, Origin, Origin]]:
    """The Metalink's own origin, a good mirror and a slow one (stalls past read_s)."""
    with (
        Origin() as home,
        Origin(files={"/t.raw": DATA}) as good,
        Origin(files={"/t.raw": DATA}, delay_s=2.0) as slow,
    ):
        yield home, good, slow


def test_probe_reports_every_mirror_and_why_the_dead_one_failed(
    metalink: MetalinkDownloader, mirrors: tuple[Origin, Origin, Origin], closed_port: int
) -> None:
    home, good, slow = mirrors
    dead = f"http://127.0.0.1:{closed_port}/t.raw"
    home.files["/t.meta4"] = meta4(
        [(dead, 1), (slow.url("/t.raw"), 2), (good.url("/t.raw"), 3)],
        size=len(DATA),
        hashes={"sha-256": SHA256},
    )

    info = metalink.probe(
        DownloadRequest(
            egress=LOOPBACK_POLICY, url=home.url("/t.meta4"), image_format="RAW", timeouts=FAST
        )
    )

    assert [(m.url, m.ok) for m in info.mirrors] == [
        (dead, False),
        (slow.url("/t.raw"), True),
        (good.url("/t.raw"), True),
    ]
    error = info.mirrors[0].error
    assert error is not None and error.code is ErrorCode.SOURCE_UNAVAILABLE
    assert "connection refused" in error.message
    assert (info.physical_size_bytes, info.virtual_size_bytes) == (len(DATA), len(DATA))
    assert good.bytes_sent("/t.raw") == 0


def test_probe_fails_when_no_mirror_works_naming_each(
    metalink: MetalinkDownloader, mirrors: tuple[Origin, Origin, Origin], closed_port: int
) -> None:
    home, good, _ = mirrors
    dead = f"http://127.0.0.1:{closed_port}/t.raw"
    home.files["/t.meta4"] = meta4([(dead, 1), (good.url("/missing.raw"), 2)])

    with pytest.raises(Exception, match="no mirror of Metalink") as caught:
        metalink.probe(
            DownloadRequest(egress=LOOPBACK_POLICY, url=home.url("/t.meta4"), timeouts=FAST)
        )

    assert caught.value.code is ErrorCode.SOURCE_NOT_FOUND  # type: ignore[attr-defined]
    assert dead in str(caught.value) and "HTTP 404" in str(caught.value)


@pytest.mark.parametrize("version", [3, 4])
def test_fetch_skips_the_dead_and_the_stalled_mirror(
    metalink: MetalinkDownloader,
    mirrors: tuple[Origin, Origin, Origin],
    closed_port: int,
    version: int,
) -> None:
    home, good, slow = mirrors
    dead = f"http://127.0.0.1:{closed_port}/t.raw"
    if version == 4:
        document = meta4(
            [(dead, 1), (slow.url("/t.raw"), 2), (good.url("/t.raw"), 3)],
            size=len(DATA),
            hashes={"sha-256": SHA256},
        )
    else:
        document = metalink_v3(
            [
                (dead, 100, "http"),
                (slow.url("/t.raw"), 50, "http"),
                (good.url("/t.raw"), 1, "http"),
            ],
            size=len(DATA),
            hashes={"sha256": SHA256},
        )
    home.files["/t.metalink"] = document
    sink = HashingSink()

    metalink.fetch(
        DownloadRequest(egress=LOOPBACK_POLICY, url=home.url("/t.metalink"), timeouts=FAST), sink
    )

    assert sink.hexdigest() == SHA256
    assert good.get_count("/t.raw") == 1


def test_a_corrupted_piece_is_fetched_again_from_another_mirror(
    metalink: MetalinkDownloader, mirrors: tuple[Origin, Origin, Origin]
) -> None:
    home, good, _ = mirrors
    bad_offset = 2 * PIECE + 1000
    corrupted = DATA[:bad_offset] + b"\x00" + DATA[bad_offset + 1 :]
    with Origin(files={"/t.raw": corrupted}) as bad:
        home.files["/t.meta4"] = meta4(
            [(bad.url("/t.raw"), 1), (good.url("/t.raw"), 2)],
            size=len(DATA),
            hashes={"sha-256": SHA256},
            pieces=pieces_of(DATA, PIECE, "sha-256"),
        )
        sink = HashingSink()

        metalink.fetch(
            DownloadRequest(egress=LOOPBACK_POLICY, url=home.url("/t.meta4"), timeouts=FAST), sink
        )

        assert sink.hexdigest() == SHA256
        assert sink.restarts == 0
        # The good mirror sent only what follows the last good piece of the bad one.
        assert good.bytes_sent("/t.raw") == len(DATA) - 2 * PIECE


def test_fetch_fails_when_every_mirror_is_dead(
    metalink: MetalinkDownloader, mirrors: tuple[Origin, Origin, Origin], closed_port: int
) -> None:
    home, _, _ = mirrors
    home.files["/t.meta4"] = meta4([(f"http://127.0.0.1:{closed_port}/t.raw", 1)])

    with pytest.raises(SourceUnavailableError, match="connection refused"):
        metalink.fetch(
            DownloadRequest(egress=LOOPBACK_POLICY, url=home.url("/t.meta4"), timeouts=FAST),
            HashingSink(),
        )


def test_fetch_moves_from_a_slow_first_mirror_to_a_much_faster_one(closed_port: int) -> None:
    data = bytes(range(256)) * 4096 * 4  # 4 MiB
    http = HttpDownloader(buffer_size_bytes=64 * 1024, reconnect_pause_s=0.01)
    downloader = MetalinkDownloader(
        inner={"http": http}, sample_bytes=256 * 1024, sample_min_file_bytes=0
    )
    with (
        Origin() as home,
        Origin(files={"/t.raw": data}) as fast,
        # About 1 MB/s: the whole file would take 4 s from here.
        Origin(files={"/t.raw": data}, delay_s=0.016, chunk_size_bytes=16 * 1024) as slow,
    ):
        dead = f"http://127.0.0.1:{closed_port}/t.raw"
        home.files["/t.meta4"] = meta4(
            [(dead, 1), (slow.url("/t.raw"), 2), (fast.url("/t.raw"), 3)],
            size=len(data),
            hashes={"sha-256": hashlib.sha256(data).hexdigest()},
        )
        sink = HashingSink()

        downloader.fetch(
            DownloadRequest(egress=LOOPBACK_POLICY, url=home.url("/t.meta4"), timeouts=FAST), sink
        )

        assert sink.hexdigest() == hashlib.sha256(data).hexdigest() and sink.restarts == 0
        # The fast mirror sent its sample, then the rest from where the slow one stopped.
        assert fast.get_count("/t.raw") == 2
        assert slow.bytes_sent("/t.raw") < len(data) // 2
        assert fast.bytes_sent("/t.raw") >= len(data) // 2


def test_an_unlucky_first_sample_does_not_pin_the_transfer_to_a_slow_mirror(
    closed_port: int,
) -> None:
    data = bytes(range(256)) * 4096 * 4  # 4 MiB
    http = HttpDownloader(buffer_size_bytes=64 * 1024, reconnect_pause_s=0.01)
    downloader = MetalinkDownloader(
        inner={"http": http}, sample_bytes=256 * 1024, sample_min_file_bytes=0
    )
    with (
        Origin() as home,
        Origin(files={"/t.raw": data}) as fast,
        # About 1 MB/s: the whole file would take 4 s from here.
        Origin(files={"/t.raw": data}, delay_s=0.016, chunk_size_bytes=16 * 1024) as slow,
    ):
        # The fast mirror's first sample fails: only a later round can find it fast.
        fast.fail_first["/t.raw"] = (503, 1)
        home.files["/t.meta4"] = meta4(
            [(slow.url("/t.raw"), 1), (fast.url("/t.raw"), 2)],
            size=len(data),
            hashes={"sha-256": hashlib.sha256(data).hexdigest()},
        )
        sink = HashingSink()

        downloader.fetch(
            DownloadRequest(egress=LOOPBACK_POLICY, url=home.url("/t.meta4"), timeouts=FAST), sink
        )

        assert sink.hexdigest() == hashlib.sha256(data).hexdigest() and sink.restarts == 0
        # A failed sample, a good one, then the rest from where the slow mirror stopped.
        assert fast.get_count("/t.raw") >= 2
        assert fast.bytes_sent("/t.raw") >= len(data) // 4
        assert slow.bytes_sent("/t.raw") < len(data)
