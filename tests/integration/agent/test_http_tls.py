"""HTTPS against an origin with its own private CA: trust from the store, fail closed."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.errors import (
    SourceDeniedError,
    SourceUnavailableError,
    TlsFailureError,
)
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.tls import TrustStore
from kvmcloud.protocol.agent_messages import Timeouts
from kvmcloud.protocol.error_codes import ErrorCode
from tests.support.egress import LOOPBACK_POLICY
from tests.support.origin import Origin
from tests.unit.agent.fakes import MemorySink

IMAGE = bytes(range(256)) * 4096  # 1 MiB
FAST = Timeouts(connect_s=2, read_s=2, request_s=2, total_s=10)


@pytest.fixture
def https_origin() -> Iterator[Origin]:
    with Origin(https=True) as origin:
        origin.files["/t.raw"] = IMAGE
        yield origin


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    path = tmp_path / "certs"
    path.mkdir()
    return path


@pytest.fixture
def downloader(cert_dir: Path) -> HttpDownloader:
    return HttpDownloader(buffer_size_bytes=64 * 1024, trust=TrustStore(cert_dir))


def request(url: str, **fields: object) -> DownloadRequest:
    return DownloadRequest(egress=LOOPBACK_POLICY, url=url, timeouts=FAST, **fields)  # type: ignore[arg-type]


def trust(cert_dir: Path, origin: Origin, alias: str = "test-ca") -> Path:
    path = cert_dir / f"{alias}.pem"
    path.write_bytes(origin.ca_pem)
    return path


def test_unknown_authority_fails_closed_with_a_clear_message(
    https_origin: Origin, downloader: HttpDownloader
) -> None:
    url = https_origin.url("/t.raw")

    with pytest.raises(TlsFailureError) as probed:
        downloader.probe(request(url))
    with pytest.raises(TlsFailureError) as fetched:
        downloader.fetch(request(url), MemorySink())

    for caught in (probed, fetched):
        message = str(caught.value)
        assert caught.value.code is ErrorCode.TLS_FAILURE
        assert "signed by an unknown authority" in message
        assert "uploadTemplateDirectDownloadCertificate" in message
        assert f"127.0.0.1:{https_origin.port}" in message
    assert https_origin.get_count("/t.raw") == 0


def test_ca_written_to_the_store_is_trusted_without_a_restart(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    url = https_origin.url("/t.raw")
    with pytest.raises(TlsFailureError):
        downloader.probe(request(url))

    pem = trust(cert_dir, https_origin)
    info = downloader.probe(request(url))
    sink = MemorySink()
    downloader.fetch(request(url), sink)

    assert info.physical_size_bytes == len(IMAGE)
    assert sink.data == IMAGE

    pem.unlink()  # revoked: the next transfer no longer trusts it
    with pytest.raises(TlsFailureError, match="unknown authority"):
        downloader.probe(request(url))


def test_host_name_is_always_verified(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    https_origin.use_certificate("images.example.org")

    with pytest.raises(TlsFailureError, match=r"not valid for the name '127\.0\.0\.1'"):
        downloader.fetch(request(https_origin.url("/t.raw")), MemorySink())
    with pytest.raises(TlsFailureError, match="not valid for the name 'localhost'"):
        downloader.probe(request(https_origin.url("/t.raw", host="localhost")))


def test_a_certificate_for_the_name_used_is_accepted(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    https_origin.use_certificate("localhost")

    info = downloader.probe(request(https_origin.url("/t.raw", host="localhost")))

    assert info.physical_size_bytes == len(IMAGE)


def test_expired_certificate_is_refused(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    https_origin.use_certificate(expired=True)

    with pytest.raises(TlsFailureError, match="has expired"):
        downloader.fetch(request(https_origin.url("/t.raw")), MemorySink())


def test_not_yet_valid_certificate_is_refused(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    https_origin.use_certificate(not_yet_valid=True)

    with pytest.raises(TlsFailureError, match=r"not yet valid.*clocks"):
        downloader.probe(request(https_origin.url("/t.raw")))


def test_https_origin_requiring_a_header(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    https_origin.require_header = ("X-Auth-Token", "s3cret-value")
    url = https_origin.url("/t.raw")

    with pytest.raises(SourceDeniedError, match="HTTP 403") as denied:
        downloader.fetch(request(url, headers={"X-Auth-Token": "wrong-value"}), MemorySink())
    sink = MemorySink()
    downloader.fetch(request(url, headers={"X-Auth-Token": "s3cret-value"}), sink)

    assert sink.data == IMAGE
    assert "wrong-value" not in str(denied.value)


def test_unreadable_store_files_are_skipped_with_a_warning(
    https_origin: Origin,
    downloader: HttpDownloader,
    cert_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (cert_dir / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (cert_dir / "notes.txt").write_text("not a certificate, not *.pem: ignored")
    trust(cert_dir, https_origin)

    with caplog.at_level(logging.WARNING):
        info = downloader.probe(request(https_origin.url("/t.raw")))

    assert info.physical_size_bytes == len(IMAGE)
    assert "broken.pem" in caplog.text
    assert "notes.txt" not in caplog.text


def test_https_to_a_plain_http_port_is_a_tls_failure(
    origin: Origin, downloader: HttpDownloader
) -> None:
    origin.files["/t.raw"] = IMAGE
    url = origin.url("/t.raw").replace("http://", "https://")

    with pytest.raises(TlsFailureError, match=r"TLS handshake with 127\.0\.0\.1"):
        downloader.probe(request(url))


def test_redirect_from_https_to_http_is_refused(
    https_origin: Origin, origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    origin.files["/t.raw"] = IMAGE
    https_origin.redirects["/moved.raw"] = origin.url("/t.raw")

    with pytest.raises(SourceUnavailableError, match="would drop TLS"):
        downloader.fetch(
            request(https_origin.url("/moved.raw"), follow_redirects=True), MemorySink()
        )
    assert origin.get_count("/t.raw") == 0


def test_redirect_within_https_keeps_verifying(
    https_origin: Origin, downloader: HttpDownloader, cert_dir: Path
) -> None:
    trust(cert_dir, https_origin)
    https_origin.redirects["/moved.raw"] = "/t.raw"
    sink = MemorySink()

    downloader.fetch(request(https_origin.url("/moved.raw"), follow_redirects=True), sink)

    assert sink.data == IMAGE
