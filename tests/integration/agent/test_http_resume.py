"""A transfer that breaks continues with Range + If-Range, or starts over cleanly."""

import hashlib
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.tls import TrustStore
from kvmcloud.protocol.agent_messages import Timeouts
from tests.support.egress import LOOPBACK_POLICY
from tests.support.origin import Origin
from tests.unit.agent.fakes import MemorySink

IMAGE = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(131072))  # 4 MiB
HALF = len(IMAGE) // 2
FAST = Timeouts(connect_s=2, read_s=2, request_s=2, total_s=20)


@pytest.fixture
def downloader() -> HttpDownloader:
    return HttpDownloader(buffer_size_bytes=64 * 1024, reconnect_pause_s=0.01)


def fetch(
    downloader: HttpDownloader, url: str, sink: MemorySink | None = None
) -> tuple[MemorySink, list[tuple[int, int | None]]]:
    sink = sink if sink is not None else MemorySink()
    progress: list[tuple[int, int | None]] = []
    downloader.fetch(
        DownloadRequest(
            egress=LOOPBACK_POLICY,
            url=url,
            timeouts=FAST,
            progress=lambda d, t: progress.append((d, t)),
        ),
        sink,
    )
    return sink, progress


def test_broken_transfer_resumes_with_range_and_if_range(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = IMAGE
    origin.break_after["/t.raw"] = HALF

    sink, progress = fetch(downloader, origin.url("/t.raw"))

    assert bytes(sink.data) == IMAGE
    assert sink.restarts == 0
    stats = origin.stats("/t.raw")
    assert stats.bytes_sent <= 1.05 * len(IMAGE)
    etag = stats.ranges[1][1]
    assert stats.ranges == [(None, None), (f"bytes={HALF}-", etag)]
    assert etag is not None and etag.startswith('"')
    # Progress continued from where it stopped: no second (0, total), so no second space check.
    assert [p for p in progress if p[0] == 0] == [(0, len(IMAGE))]
    assert (HALF, len(IMAGE)) in progress
    assert progress[-1] == (len(IMAGE), len(IMAGE))


def test_resume_uses_last_modified_when_there_is_no_etag(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = IMAGE
    origin.send_etag = False
    origin.break_after["/t.raw"] = HALF

    sink, _ = fetch(downloader, origin.url("/t.raw"))

    assert bytes(sink.data) == IMAGE
    range_header, if_range = origin.stats("/t.raw").ranges[1]
    assert range_header == f"bytes={HALF}-"
    assert if_range is not None and if_range.endswith(" GMT")


def test_origin_without_ranges_restarts_cleanly(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/t.raw"] = IMAGE
    origin.no_ranges = True
    origin.break_after["/t.raw"] = HALF

    sink, progress = fetch(downloader, origin.url("/t.raw"))

    assert bytes(sink.data) == IMAGE
    assert sink.restarts == 1
    assert origin.bytes_sent("/t.raw") == HALF + len(IMAGE)
    assert [p for p in progress if p[0] == 0] == [(0, len(IMAGE))] * 2


def test_changed_object_is_taken_whole_rather_than_spliced(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = IMAGE
    origin.break_after["/t.raw"] = HALF
    changed = IMAGE[::-1]

    def change_after_the_break(done: int, total: int | None) -> None:
        if done >= HALF:
            origin.files["/t.raw"] = changed

    sink = MemorySink()
    downloader.fetch(
        DownloadRequest(
            egress=LOOPBACK_POLICY,
            url=origin.url("/t.raw"),
            timeouts=FAST,
            progress=change_after_the_break,
        ),
        sink,
    )

    assert bytes(sink.data) == changed
    assert sink.restarts == 1
    assert origin.stats("/t.raw").ranges[1][0] == f"bytes={HALF}-"  # asked, If-Range said no


def test_without_validators_a_broken_transfer_starts_over(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = IMAGE
    origin.send_etag = origin.send_last_modified = False
    origin.break_after["/t.raw"] = HALF

    sink, _ = fetch(downloader, origin.url("/t.raw"))

    assert bytes(sink.data) == IMAGE
    assert sink.restarts == 1
    assert origin.stats("/t.raw").ranges == [(None, None), (None, None)]


def test_a_sink_holding_bytes_continues_from_them(
    origin: Origin, downloader: HttpDownloader
) -> None:
    # What the metalink downloader does after another mirror failed mid-way.
    origin.files["/t.raw"] = IMAGE
    sink = MemorySink(data=bytearray(IMAGE[:HALF]))

    _, progress = fetch(downloader, origin.url("/t.raw"), sink)

    assert bytes(sink.data) == IMAGE
    assert sink.restarts == 0
    assert origin.stats("/t.raw").ranges == [(f"bytes={HALF}-", None)]
    assert origin.bytes_sent("/t.raw") == len(IMAGE) - HALF
    assert progress[0] == (HALF, len(IMAGE))


def test_a_sink_holding_bytes_starts_over_when_the_source_has_no_ranges(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = IMAGE
    origin.no_ranges = True
    sink = MemorySink(data=bytearray(IMAGE[:HALF]))

    fetch(downloader, origin.url("/t.raw"), sink)

    assert bytes(sink.data) == IMAGE
    assert sink.restarts == 1


def test_a_sink_holding_the_whole_file_asks_for_an_empty_range(
    origin: Origin, downloader: HttpDownloader
) -> None:
    # 416 Range Not Satisfiable: the sink starts over rather than guessing it is complete.
    origin.files["/t.raw"] = IMAGE
    sink = MemorySink(data=bytearray(IMAGE))

    fetch(downloader, origin.url("/t.raw"), sink)

    assert bytes(sink.data) == IMAGE
    assert sink.restarts == 1


def test_https_transfer_resumes_too(tmp_path: Path) -> None:
    with Origin(https=True) as origin:
        (tmp_path / "origin.pem").write_bytes(origin.ca_pem)
        tls_downloader = HttpDownloader(
            buffer_size_bytes=64 * 1024, trust=TrustStore(tmp_path), reconnect_pause_s=0.01
        )
        origin.files["/t.raw"] = IMAGE
        origin.break_after["/t.raw"] = HALF

        sink, _ = fetch(tls_downloader, origin.url("/t.raw"))

        assert bytes(sink.data) == IMAGE
        assert sink.restarts == 0
        assert origin.bytes_sent("/t.raw") <= 1.05 * len(IMAGE)
