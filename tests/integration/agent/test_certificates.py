"""The certificate store and the real HTTPS downloader: changes apply at the next transfer."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.certificates import CertificateStore
from kvmcloud.agent.downloads.base import DownloadRequest
from kvmcloud.agent.downloads.errors import TlsFailureError
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.tls import TrustStore
from kvmcloud.protocol.agent_messages import Timeouts
from tests.support.egress import LOOPBACK_POLICY
from tests.support.origin import Origin
from tests.unit.agent.fakes import MemorySink

IMAGE = bytes(range(256)) * 1024  # 256 KiB
FAST = Timeouts(connect_s=2, read_s=2, request_s=2, total_s=10)


@pytest.fixture
def https_origin() -> Iterator[Origin]:
    with Origin(https=True) as origin:
        origin.files["/t.raw"] = IMAGE
        yield origin


def fetch(downloader: HttpDownloader, url: str) -> bytes:
    sink = MemorySink()
    downloader.fetch(DownloadRequest(egress=LOOPBACK_POLICY, url=url, timeouts=FAST), sink)
    return bytes(sink.data)


def test_setup_is_trusted_and_revoke_untrusted_by_the_next_download(
    https_origin: Origin, tmp_path: Path
) -> None:
    # The directory does not exist yet: setup creates it, as on a freshly installed host.
    store = CertificateStore(tmp_path / "certs")
    downloader = HttpDownloader(buffer_size_bytes=64 * 1024, trust=TrustStore(store.cert_dir))
    url = https_origin.url("/t.raw")

    with pytest.raises(TlsFailureError, match="unknown authority"):
        fetch(downloader, url)

    assert store.setup("zone-ca", https_origin.ca_pem.decode("ascii")).changed
    assert fetch(downloader, url) == IMAGE

    assert store.revoke("zone-ca").changed
    with pytest.raises(TlsFailureError, match="unknown authority"):
        fetch(downloader, url)

    assert store.setup("zone-ca", https_origin.ca_pem.decode("ascii")).changed
    assert fetch(downloader, url) == IMAGE


def test_replacing_an_alias_switches_trust(https_origin: Origin, tmp_path: Path) -> None:
    store = CertificateStore(tmp_path / "certs")
    downloader = HttpDownloader(buffer_size_bytes=64 * 1024, trust=TrustStore(store.cert_dir))
    url = https_origin.url("/t.raw")
    with Origin(https=True) as other:
        other_ca = other.ca_pem.decode("ascii")

    store.setup("zone-ca", https_origin.ca_pem.decode("ascii"))
    assert fetch(downloader, url) == IMAGE

    assert store.setup("zone-ca", other_ca).changed  # rotated to another CA
    with pytest.raises(TlsFailureError, match="unknown authority"):
        fetch(downloader, url)
