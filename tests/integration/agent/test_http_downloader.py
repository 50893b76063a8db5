import socket
import threading
from collections.abc import Iterator

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.errors import (
    DnsFailureError,
    DownloadCancelledError,
    DownloadTimeoutError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceUnavailableError,
    UnsupportedUrlError,
)
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.protocol.agent_messages import Timeouts
from tests.integration.agent.conftest import Image
from tests.support.egress import LOOPBACK_POLICY
from tests.support.origin import Origin
from tests.unit.agent.fakes import MemorySink

RAW = bytes(range(256)) * 4096  # 1 MiB
FAST = Timeouts(connect_s=2, read_s=2, total_s=10)


@pytest.fixture
def downloader() -> HttpDownloader:
    return HttpDownloader(buffer_size_bytes=64 * 1024, reconnect_pause_s=0.01)


def request(url: str, **kwargs: object) -> DownloadRequest:
    kwargs.setdefault("timeouts", FAST)
    return DownloadRequest(egress=LOOPBACK_POLICY, url=url, **kwargs)  # type: ignore[arg-type]


# probe ------------------------------------------------------------------------------------


def test_probe_reports_content_length_for_raw(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/t.raw"] = RAW

    info = downloader.probe(request(origin.url("/t.raw"), image_format="RAW"))

    assert (info.physical_size_bytes, info.virtual_size_bytes) == (len(RAW), len(RAW))
    assert origin.bytes_sent("/t.raw") == 0


def test_probe_reads_qcow2_virtual_size_from_header_only(
    origin: Origin, downloader: HttpDownloader, qcow2_image: Image
) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data

    info = downloader.probe(request(origin.url("/t.qcow2"), image_format="QCOW2"))

    assert info.physical_size_bytes == len(qcow2_image.data)
    assert info.virtual_size_bytes == 1024 * 1024
    assert origin.bytes_sent("/t.qcow2") == 512


def test_probe_falls_back_to_ranged_get_when_head_is_refused(
    origin: Origin, downloader: HttpDownloader, qcow2_image: Image
) -> None:
    origin.reject_head = True
    origin.files["/t.raw"] = RAW
    origin.files["/t.qcow2"] = qcow2_image.data

    raw = downloader.probe(request(origin.url("/t.raw"), image_format="RAW"))
    qcow2 = downloader.probe(request(origin.url("/t.qcow2"), image_format="QCOW2"))

    assert raw.physical_size_bytes == len(RAW)
    assert origin.bytes_sent("/t.raw") == 1
    assert qcow2.physical_size_bytes == len(qcow2_image.data)
    assert qcow2.virtual_size_bytes == 1024 * 1024
    assert origin.get_count("/t.qcow2") == 1  # one ranged GET served both answers


def test_probe_404_is_source_not_found_with_status_and_url(
    origin: Origin, downloader: HttpDownloader
) -> None:
    url = origin.url("/missing.qcow2")
    with pytest.raises(SourceNotFoundError) as caught:
        downloader.probe(request(url))
    assert str(caught.value) == f"HTTP 404 from {url}"


def test_probe_500_is_source_unavailable(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/t.raw"] = RAW
    origin.statuses["/t.raw"] = 500
    with pytest.raises(SourceUnavailableError, match="HTTP 500 from http://"):
        downloader.probe(request(origin.url("/t.raw")))


def test_required_header_is_sent_and_its_value_never_shown(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.require_header = ("X-Auth-Token", "secret")
    origin.files["/t.raw"] = RAW
    url = origin.url("/t.raw")

    with pytest.raises(SourceDeniedError, match="HTTP 403 from") as missing:
        downloader.probe(request(url))
    with pytest.raises(SourceDeniedError) as wrong:
        downloader.probe(request(url, headers={"X-Auth-Token": "wrong-guess"}))
    info = downloader.probe(request(url, headers={"X-Auth-Token": "secret"}))

    assert info.physical_size_bytes == len(RAW)
    assert "wrong-guess" not in str(wrong.value)
    assert "X-Auth-Token" not in str(missing.value)


def test_connection_refused_is_source_unavailable(
    downloader: HttpDownloader, closed_port: int
) -> None:
    with pytest.raises(SourceUnavailableError, match=r"connection refused by 127\.0\.0\.1"):
        downloader.probe(request(f"http://127.0.0.1:{closed_port}/t.qcow2"))


def test_unknown_host_is_dns_failure(downloader: HttpDownloader) -> None:
    with pytest.raises(DnsFailureError, match=r"nonexistent\.invalid"):
        downloader.probe(request("http://nonexistent.invalid/t.qcow2"))


def test_non_http_scheme_is_unsupported(downloader: HttpDownloader) -> None:
    with pytest.raises(UnsupportedUrlError, match="'ftp'"):
        downloader.probe(request("ftp://127.0.0.1/t.qcow2"))


def test_redirect_is_refused_unless_allowed(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/real.raw"] = RAW
    origin.redirects["/moved.raw"] = "/real.raw"
    url = origin.url("/moved.raw")

    with pytest.raises(SourceUnavailableError, match=r"store\.download\.follow\.redirects"):
        downloader.probe(request(url))
    info = downloader.probe(request(url, follow_redirects=True))

    assert info.physical_size_bytes == len(RAW)


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("ftp://127.0.0.1/real.raw", "'ftp' is not 'http'"),
        ("https://127.0.0.1/real.raw", "register the https:// URL itself"),
    ],
)
def test_redirect_to_another_scheme_is_refused(
    origin: Origin, downloader: HttpDownloader, location: str, why: str
) -> None:
    origin.files["/moved.raw"] = RAW
    origin.redirects["/moved.raw"] = location
    url = origin.url("/moved.raw")

    with pytest.raises(SourceUnavailableError, match="another scheme") as probed:
        downloader.probe(request(url, follow_redirects=True))
    with pytest.raises(SourceUnavailableError, match="another scheme") as fetched:
        downloader.fetch(request(url, follow_redirects=True), MemorySink())

    assert why in str(probed.value)
    assert why in str(fetched.value)


def test_fetch_follows_redirects_only_when_allowed(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/real.raw"] = RAW
    origin.redirects["/moved.raw"] = "/real.raw"
    url = origin.url("/moved.raw")

    with pytest.raises(SourceUnavailableError, match=r"follow\.redirects is false"):
        downloader.fetch(request(url), MemorySink())
    sink = MemorySink()
    downloader.fetch(request(url, follow_redirects=True), sink)

    assert sink.data == RAW
    assert origin.get_count("/real.raw") == 1


def test_redirect_loops_are_bounded(origin: Origin, downloader: HttpDownloader) -> None:
    origin.redirects["/a"] = "/b"
    origin.redirects["/b"] = "/a"
    with pytest.raises(SourceUnavailableError, match="more than 5 redirects"):
        downloader.probe(request(origin.url("/a"), follow_redirects=True))


def test_probe_reports_the_content_type(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/t.meta4"] = b"<metalink/>"
    origin.content_types["/t.meta4"] = "Application/Metalink4+XML; charset=utf-8"
    origin.files["/t.raw"] = RAW

    metalink = downloader.probe(request(origin.url("/t.meta4")))
    raw = downloader.probe(request(origin.url("/t.raw")))

    assert metalink.content_type == "application/metalink4+xml"
    assert raw.content_type == "application/octet-stream"


def test_probe_reports_the_content_type_when_head_is_refused(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.reject_head = True
    origin.files["/t.meta4"] = b"<metalink/>"
    origin.content_types["/t.meta4"] = "application/metalink4+xml"

    info = downloader.probe(request(origin.url("/t.meta4")))

    assert info.content_type == "application/metalink4+xml"


# fetch ------------------------------------------------------------------------------------


def test_fetch_streams_body_into_the_sink_and_reports_progress(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = RAW
    progress: list[tuple[int, int | None]] = []
    sink = MemorySink()

    downloader.fetch(
        request(origin.url("/t.raw"), progress=lambda d, t: progress.append((d, t))), sink
    )

    assert sink.data == RAW
    assert sink.writes > 1
    assert progress[0] == (0, len(RAW))
    assert progress[-1] == (len(RAW), len(RAW))
    assert len(progress) > 2
    assert origin.get_count("/t.raw") == 1


def test_fetch_short_body_every_time_gives_up_after_fruitless_reconnects(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = RAW
    origin.truncate["/t.raw"] = 1000
    # Without ETag or Last-Modified every reconnect starts over: no progress, ever.
    origin.send_etag = origin.send_last_modified = False
    sink = MemorySink()

    with pytest.raises(
        SourceUnavailableError, match=f"after 1000 of {len(RAW)} bytes; gave up after 6 reconnects"
    ):
        downloader.fetch(request(origin.url("/t.raw")), sink)
    assert sink.restarts == 6


def test_fetch_reconnects_are_bounded_even_with_progress(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = RAW
    origin.truncate["/t.raw"] = 1000  # every response, full or ranged, stops after 1000

    with pytest.raises(SourceUnavailableError, match="gave up after 50 reconnects"):
        downloader.fetch(request(origin.url("/t.raw")), MemorySink())
    assert origin.get_count("/t.raw") == 51


def test_fetch_stall_is_a_timeout_naming_the_read_timeout(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = RAW
    origin.delay_s = 1.0
    timeouts = Timeouts(connect_s=2, read_s=0.2, total_s=10)

    with pytest.raises(DownloadTimeoutError, match=r"no data for 0\.2 s from 127\.0\.0\.1"):
        downloader.fetch(request(origin.url("/t.raw"), timeouts=timeouts), MemorySink())


def test_fetch_stall_after_some_data_resumes_then_completes(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = RAW
    stalled = threading.Event()

    def stall_once(done: int, total: int | None) -> None:
        # The first time bytes arrive, make the origin slow for one stall period.
        if done and not stalled.is_set():
            stalled.set()
            origin.delay_s = 0.5
            threading.Timer(0.3, lambda: setattr(origin, "delay_s", 0.0)).start()

    sink = MemorySink()
    timeouts = Timeouts(connect_s=2, read_s=0.2, total_s=10)
    downloader.fetch(request(origin.url("/t.raw"), timeouts=timeouts, progress=stall_once), sink)

    assert sink.data == RAW
    assert sink.restarts == 0


def test_fetch_total_timeout(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/t.raw"] = RAW
    origin.delay_s = 0.05
    origin.chunk_size_bytes = 16 * 1024
    timeouts = Timeouts(connect_s=2, read_s=2, total_s=0.3)

    with pytest.raises(DownloadTimeoutError, match=r"exceeded its total time limit of 0\.3 s"):
        downloader.fetch(request(origin.url("/t.raw"), timeouts=timeouts), MemorySink())


def test_fetch_honours_cancel_between_chunks(origin: Origin, downloader: HttpDownloader) -> None:
    origin.files["/t.raw"] = RAW
    origin.delay_s = 0.02
    origin.chunk_size_bytes = 16 * 1024
    cancel = threading.Event()

    def cancel_after_first_bytes(done: int, total: int | None) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(DownloadCancelledError):
        downloader.fetch(
            request(origin.url("/t.raw"), cancel=cancel, progress=cancel_after_first_bytes),
            MemorySink(),
        )
    assert origin.bytes_sent("/t.raw") < len(RAW)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A loopback port that accepts TCP connections (the kernel does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_no_response_headers_within_the_request_timeout(
    downloader: HttpDownloader, silent_listener: int
) -> None:
    timeouts = Timeouts(connect_s=2, request_s=0.3, read_s=5, total_s=10)
    url = f"http://127.0.0.1:{silent_listener}/t.raw"

    with pytest.raises(DownloadTimeoutError, match=r"no response from 127\.0\.0\.1:\d+ .* 0\.3 s"):
        downloader.fetch(request(url, timeouts=timeouts), MemorySink())


def test_tls_handshake_counts_against_the_connect_timeout(
    downloader: HttpDownloader, silent_listener: int
) -> None:
    timeouts = Timeouts(connect_s=0.3, request_s=5, read_s=5, total_s=10)
    url = f"https://127.0.0.1:{silent_listener}/t.raw"

    with pytest.raises(DownloadTimeoutError, match=r"connecting to 127\.0\.0\.1:\d+ .*0\.3 s"):
        downloader.probe(request(url, timeouts=timeouts))


def test_command_headers_are_not_sent_to_another_host_after_a_redirect(
    origin: Origin, downloader: HttpDownloader
) -> None:
    with Origin(files={"/t.raw": RAW}, require_header=("X-Auth-Token", "secret")) as other:
        origin.redirects["/moved.raw"] = other.url("/t.raw", host="localhost")
        headers = {"X-Auth-Token": "secret"}

        with pytest.raises(SourceDeniedError, match="HTTP 403"):
            downloader.fetch(
                request(origin.url("/moved.raw"), headers=headers, follow_redirects=True),
                MemorySink(),
            )
        sink = MemorySink()
        downloader.fetch(request(other.url("/t.raw"), headers=headers), sink)

    assert sink.data == RAW
