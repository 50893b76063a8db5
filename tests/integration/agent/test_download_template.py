import hashlib
import threading
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.engine import download_template
from kvmcloud.agent.downloads.errors import ChecksumMismatchError, ImageRejectedError
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.protocol.agent_messages import (
    DirectDownloadCommand,
    DirectDownloadResult,
    PoolSpec,
    PoolType,
    Timeouts,
)
from tests.integration.agent.conftest import Image, pool_files
from tests.support.origin import Origin

pytestmark = pytest.mark.allow_commands("qemu-img")


def download(origin: Origin, pool: Path, **fields: object) -> DirectDownloadResult:
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
    http = HttpDownloader()
    return download_template(
        DirectDownloadCommand(**values),  # type: ignore[arg-type]
        attempt_id="a1",
        downloaders={"http": http, "https": http},
        qemu_img=QemuImg(),
        cancel=threading.Event(),
        progress=lambda done, total: None,
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
