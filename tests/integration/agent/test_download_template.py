import bz2
import gzip
import hashlib
import lzma
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from kvmcloud.agent.downloads.engine import download_template
from kvmcloud.agent.downloads.errors import (
    ChecksumMismatchError,
    DownloadCancelledError,
    ImageRejectedError,
    PoolFullError,
    TlsFailureError,
)
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.downloads.tls import TrustStore
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.agent.pools import StoragePool
from kvmcloud.protocol.agent_messages import (
    DirectDownloadCommand,
    DirectDownloadResult,
    PoolSpec,
    PoolType,
    Timeouts,
)
from tests.integration.agent.conftest import Image, pool_files
from tests.support.egress import LOOPBACK_RULES
from tests.support.origin import Origin

pytestmark = pytest.mark.allow_commands("qemu-img")

# 4 MiB raw disk: a boot sector, noise that does not compress, and zeros that do.
RAW_IMAGE = (
    b"\xfa\x31\xc0" + bytes(509) + os.urandom(2 * 1024 * 1024 - 512) + bytes(2 * 1024 * 1024)
)


def download(
    origin: Origin,
    pool: Path,
    *,
    http: HttpDownloader | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    **fields: object,
) -> DirectDownloadResult:
    values: dict[str, object] = {
        "template_uuid": "tmpl-1",
        "url": origin.url("/t.qcow2"),
        "format": "QCOW2",
        "pool": PoolSpec(uuid="pool-1", type=PoolType.FILESYSTEM, path=str(pool)),
        "install_name": "tmpl-1.qcow2",
        "headers": {"X-Auth-Token": "secret"},
        "timeouts": Timeouts(connect_s=2, read_s=2, total_s=30),
    }
    values.update(fields)
    http = http if http is not None else HttpDownloader(reconnect_pause_s=0.01)
    return download_template(
        DirectDownloadCommand(egress=LOOPBACK_RULES, **values),  # type: ignore[arg-type]
        attempt_id="a1",
        downloaders={"http": http, "https": http},
        qemu_img=QemuImg(),
        cancel=cancel if cancel is not None else threading.Event(),
        progress=progress if progress is not None else (lambda done, total: None),
    )


def test_qcow2_with_header_and_checksum_lands_in_pool(
    origin: Origin, pool_dir: Path, qcow2_image: Image
) -> None:
    origin.require_header = ("X-Auth-Token", "secret")
    origin.files["/t.qcow2"] = qcow2_image.data

    result = download(origin, pool_dir, checksum=f"{{SHA-256}}{qcow2_image.sha256}")

    final = pool_dir / "tmpl-1.qcow2"
    assert result.install_path == str(final)
    assert hashlib.sha256(final.read_bytes()).hexdigest() == qcow2_image.sha256
    assert result.physical_size_bytes == len(qcow2_image.data)
    assert result.virtual_size_bytes == 1024 * 1024
    assert result.format == "QCOW2"
    assert pool_files(pool_dir) == ["tmpl-1.qcow2"]
    assert list((pool_dir / ".kvmcloud-partial").iterdir()) == []
    assert origin.get_count("/t.qcow2") == 1


def test_wrong_checksum_leaves_nothing(origin: Origin, pool_dir: Path, qcow2_image: Image) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data

    with pytest.raises(ChecksumMismatchError):
        download(origin, pool_dir, checksum="{SHA-256}" + "ab" * 32)
    assert pool_files(pool_dir) == []


def test_backing_file_is_refused_by_real_qemu_img(
    origin: Origin, pool_dir: Path, qcow2_with_backing_file: Image
) -> None:
    origin.files["/t.qcow2"] = qcow2_with_backing_file.data

    with pytest.raises(ImageRejectedError, match="backing file"):
        download(origin, pool_dir)
    assert pool_files(pool_dir) == []


def test_qcow2_registered_as_raw_is_refused(
    origin: Origin, pool_dir: Path, qcow2_image: Image
) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data

    with pytest.raises(
        ImageRejectedError, match="registered as RAW but qemu-img reports format 'qcow2'"
    ):
        download(origin, pool_dir, format="RAW", install_name="t.raw")
    assert pool_files(pool_dir) == []


# checksums ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "{{sha256}}{hex}",
        "{{SHA256}}{hex}",
        "{{SHA-256}}{HEX}",
        "{{sha-256}}{hex}",
        "{hex}",
        "{HEX}",
        "  {{SHA-256}} {hex}  ",
        "{{MD5}}{md5}",
        "{md5}",
    ],
)
def test_checksum_accepted_however_it_is_spelled(
    origin: Origin, pool_dir: Path, qcow2_image: Image, spelling: str
) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data
    checksum = spelling.format(
        hex=qcow2_image.sha256,
        HEX=qcow2_image.sha256.upper(),
        md5=hashlib.md5(qcow2_image.data).hexdigest(),
    )

    result = download(origin, pool_dir, checksum=checksum)

    assert Path(result.install_path).read_bytes() == qcow2_image.data


def test_wrong_checksum_in_any_spelling_publishes_nothing(
    origin: Origin, pool_dir: Path, qcow2_image: Image
) -> None:
    origin.files["/t.qcow2"] = qcow2_image.data
    wrong = hashlib.sha256(b"something else").hexdigest().upper()

    with pytest.raises(ChecksumMismatchError) as caught:
        download(origin, pool_dir, checksum=wrong)

    assert caught.value.actual == qcow2_image.sha256
    assert pool_files(pool_dir) == []


# compression -------------------------------------------------------------------------------

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "gzip-multi-member": lambda data: gzip.compress(data[:1000]) + gzip.compress(data[1000:]),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": zstandard.ZstdCompressor(write_checksum=True).compress,
}


@pytest.mark.parametrize("compression", list(COMPRESSORS))
def test_compressed_qcow2_is_published_decompressed_and_checked(
    origin: Origin, pool_dir: Path, qcow2_image: Image, compression: str
) -> None:
    served = COMPRESSORS[compression](qcow2_image.data)
    # A name that says nothing: detection is by magic bytes.
    origin.files["/t.qcow2"] = served

    result = download(origin, pool_dir, checksum="{SHA-256}" + hashlib.sha256(served).hexdigest())

    final = pool_dir / "tmpl-1.qcow2"
    assert final.read_bytes() == qcow2_image.data
    assert result.physical_size_bytes == len(qcow2_image.data)
    assert result.virtual_size_bytes == 1024 * 1024  # real qemu-img read the decompressed file
    assert pool_files(pool_dir) == ["tmpl-1.qcow2"]


def test_checksum_of_the_decompressed_image_is_refused(
    origin: Origin, pool_dir: Path, qcow2_image: Image
) -> None:
    # The checksum is of the bytes as published at the URL (the compressed file).
    origin.files["/t.qcow2"] = gzip.compress(qcow2_image.data)

    with pytest.raises(ChecksumMismatchError):
        download(origin, pool_dir, checksum=qcow2_image.sha256)
    assert pool_files(pool_dir) == []


def test_compressed_iso_is_published_decompressed(origin: Origin, pool_dir: Path) -> None:
    origin.files["/t.iso.xz"] = lzma.compress(RAW_IMAGE)

    result = download(
        origin, pool_dir, url=origin.url("/t.iso.xz"), format="ISO", install_name="t.iso"
    )

    assert Path(result.install_path).read_bytes() == RAW_IMAGE
    assert result.format == "ISO"


@pytest.mark.parametrize("compression", ["gzip", "bzip2", "xz", "zstd"])
def test_truncated_compressed_stream_is_rejected_and_nothing_left(
    origin: Origin, pool_dir: Path, qcow2_image: Image, compression: str
) -> None:
    served = COMPRESSORS[compression](RAW_IMAGE)
    origin.files["/t.raw"] = served[: len(served) - 100]  # truncated at the source

    with pytest.raises(ImageRejectedError, match=f"{compression}-compressed image is truncated"):
        download(origin, pool_dir, url=origin.url("/t.raw"), format="RAW", install_name="t.raw")
    assert pool_files(pool_dir) == []


def test_corrupt_compressed_stream_is_rejected_and_nothing_left(
    origin: Origin, pool_dir: Path
) -> None:
    served = bytearray(gzip.compress(RAW_IMAGE))
    served[len(served) // 2] ^= 0xFF
    origin.files["/t.raw"] = bytes(served)

    with pytest.raises(ImageRejectedError, match="gzip") as caught:
        download(origin, pool_dir, url=origin.url("/t.raw"), format="RAW", install_name="t.raw")
    assert caught.value.code.value == "image_rejected"
    assert pool_files(pool_dir) == []


def test_decompression_bomb_is_refused_by_the_pool_space(
    origin: Origin, pool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StoragePool, "available_bytes", lambda self: 8 * 1024 * 1024)
    origin.files["/t.raw"] = zstandard.ZstdCompressor().compress(bytes(64 * 1024 * 1024))

    with pytest.raises(PoolFullError, match="decompressed from zstd, grows past 8388608"):
        download(origin, pool_dir, url=origin.url("/t.raw"), format="RAW", install_name="t.raw")
    assert pool_files(pool_dir) == []


# resume, cancel, TLS -----------------------------------------------------------------------


def test_transfer_broken_half_way_resumes_into_the_same_file(
    origin: Origin, pool_dir: Path
) -> None:
    origin.files["/t.raw"] = RAW_IMAGE
    origin.break_after["/t.raw"] = len(RAW_IMAGE) // 2
    digest = hashlib.sha256(RAW_IMAGE).hexdigest()

    result = download(
        origin,
        pool_dir,
        url=origin.url("/t.raw"),
        format="RAW",
        install_name="t.raw",
        checksum=digest,
    )

    assert hashlib.sha256(Path(result.install_path).read_bytes()).hexdigest() == digest
    assert origin.bytes_sent("/t.raw") <= 1.05 * len(RAW_IMAGE)
    assert origin.get_count("/t.raw") == 2
    assert pool_files(pool_dir) == ["t.raw"]


def test_compressed_transfer_broken_half_way_resumes_mid_stream(
    origin: Origin, pool_dir: Path
) -> None:
    served = gzip.compress(RAW_IMAGE)
    origin.files["/t.raw"] = served
    origin.break_after["/t.raw"] = len(served) // 2

    result = download(
        origin,
        pool_dir,
        url=origin.url("/t.raw"),
        format="RAW",
        install_name="t.raw",
        checksum=hashlib.sha256(served).hexdigest(),
    )

    assert Path(result.install_path).read_bytes() == RAW_IMAGE
    assert origin.bytes_sent("/t.raw") <= 1.05 * len(served)


def test_transfer_broken_half_way_without_ranges_restarts_cleanly(
    origin: Origin, pool_dir: Path
) -> None:
    served = gzip.compress(RAW_IMAGE)
    origin.files["/t.raw"] = served
    origin.no_ranges = True
    origin.break_after["/t.raw"] = len(served) // 2

    result = download(
        origin,
        pool_dir,
        url=origin.url("/t.raw"),
        format="RAW",
        install_name="t.raw",
        checksum=hashlib.sha256(served).hexdigest(),
    )

    assert Path(result.install_path).read_bytes() == RAW_IMAGE
    assert origin.bytes_sent("/t.raw") == len(served) // 2 + len(served)


def test_cancel_mid_transfer_leaves_nothing(origin: Origin, pool_dir: Path) -> None:
    origin.files["/t.raw"] = RAW_IMAGE
    origin.delay_s = 0.02
    origin.chunk_size_bytes = 64 * 1024
    cancel = threading.Event()

    def cancel_once_bytes_arrive(done: int, total: int | None) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(DownloadCancelledError):
        download(
            origin,
            pool_dir,
            url=origin.url("/t.raw"),
            format="RAW",
            install_name="t.raw",
            http=HttpDownloader(buffer_size_bytes=64 * 1024),
            cancel=cancel,
            progress=cancel_once_bytes_arrive,
        )
    assert pool_files(pool_dir) == []
    assert origin.bytes_sent("/t.raw") < len(RAW_IMAGE)


def test_https_template_from_an_origin_with_its_own_ca(
    pool_dir: Path, tmp_path: Path, qcow2_image: Image
) -> None:
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    http = HttpDownloader(trust=TrustStore(cert_dir))
    with Origin(https=True, files={"/t.qcow2": qcow2_image.data}) as origin:
        with pytest.raises(TlsFailureError, match="unknown authority"):
            download(origin, pool_dir, http=http)
        assert pool_files(pool_dir) == []

        (cert_dir / "zone-ca.pem").write_bytes(origin.ca_pem)
        result = download(origin, pool_dir, http=http, checksum=qcow2_image.sha256)

    assert Path(result.install_path).read_bytes() == qcow2_image.data
