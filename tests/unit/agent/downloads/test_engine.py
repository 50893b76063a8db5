import dataclasses
import errno
import hashlib
import threading
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.base import Downloader, ProgressCallback
from kvmcloud.agent.downloads.engine import ImageInspector, download_template, pick_downloader
from kvmcloud.agent.downloads.errors import (
    ChecksumMismatchError,
    DownloadCancelledError,
    ImageRejectedError,
    PoolFullError,
    SourceNotFoundError,
    UnsupportedUrlError,
)
from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.host.commands import CommandFailedError
from kvmcloud.agent.pools import PARTIAL_DIR_NAME, StoragePool
from kvmcloud.protocol.agent_messages import (
    DirectDownloadCommand,
    DirectDownloadResult,
    PoolSpec,
    PoolType,
)
from kvmcloud.protocol.error_codes import ErrorCode
from tests.unit.agent.fakes import FakeDownloader, FakeQemuImg

URL = "http://origin.test/images/t.qcow2"
BODY = b"QFI\xfb" + bytes(range(256)) * 64
SHA256 = hashlib.sha256(BODY).hexdigest()


def make_command(pool_dir: Path, **changes: object) -> DirectDownloadCommand:
    command = DirectDownloadCommand(
        template_uuid="tmpl-1",
        url=URL,
        format="QCOW2",
        pool=PoolSpec(uuid="pool-1", type=PoolType.FILESYSTEM, path=str(pool_dir)),
        install_name="tmpl-1.qcow2",
        checksum=f"{{SHA-256}}{SHA256}",
    )
    return dataclasses.replace(command, **changes)  # type: ignore[arg-type]


def run(
    command: DirectDownloadCommand,
    downloader: Downloader,
    qemu_img: ImageInspector,
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
) -> DirectDownloadResult:
    return download_template(
        command,
        attempt_id="attempt1",
        downloaders={"http": downloader},
        qemu_img=qemu_img,
        cancel=cancel or threading.Event(),
        progress=progress or (lambda done, total: None),
    )


def pool_files(pool_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(pool_dir)) for p in pool_dir.rglob("*") if p.is_file())


@pytest.fixture
def downloader() -> FakeDownloader:
    return FakeDownloader(bodies={URL: BODY})


def test_download_installs_verified_image_and_reports_sizes(tmp_path, downloader):
    qemu_img = FakeQemuImg()
    seen: list[tuple[int, int | None]] = []

    result = run(
        make_command(tmp_path), downloader, qemu_img, progress=lambda d, t: seen.append((d, t))
    )

    final = tmp_path / "tmpl-1.qcow2"
    assert result.install_path == str(final)
    assert final.read_bytes() == BODY
    assert result.physical_size_bytes == len(BODY)
    assert result.virtual_size_bytes == qemu_img.image.virtual_size_bytes
    assert result.format == "QCOW2"
    assert pool_files(tmp_path) == ["tmpl-1.qcow2"]
    assert seen[0] == (0, len(BODY))
    assert seen[-1] == (len(BODY), len(BODY))
    # qemu-img inspected the temp file, before publication.
    assert PARTIAL_DIR_NAME in str(qemu_img.paths[0])


def test_download_without_checksum_skips_verification(tmp_path, downloader):
    result = run(make_command(tmp_path, checksum=None), downloader, FakeQemuImg())
    assert Path(result.install_path).read_bytes() == BODY


def test_checksum_mismatch_leaves_nothing_in_pool(tmp_path, downloader):
    wrong = "{SHA-256}" + "0" * 64
    with pytest.raises(ChecksumMismatchError) as caught:
        run(make_command(tmp_path, checksum=wrong), downloader, FakeQemuImg())

    assert caught.value.code is ErrorCode.CHECKSUM_MISMATCH
    assert caught.value.expected == wrong
    assert caught.value.actual == SHA256
    assert pool_files(tmp_path) == []


def test_malformed_checksum_is_a_bad_command_and_downloads_nothing(tmp_path, downloader):
    with pytest.raises(BadCommandError, match="invalid checksum"):
        run(make_command(tmp_path, checksum="{SHA-256}xyz"), downloader, FakeQemuImg())
    assert downloader.fetches == []


def test_backing_file_is_rejected_and_nothing_left(tmp_path, downloader):
    qemu_img = FakeQemuImg()
    qemu_img.image = dataclasses.replace(qemu_img.image, backing_file="/etc/shadow")

    with pytest.raises(ImageRejectedError, match=r"backing file.*/etc/shadow"):
        run(make_command(tmp_path), downloader, qemu_img)
    assert pool_files(tmp_path) == []


def test_external_data_file_is_rejected(tmp_path, downloader):
    qemu_img = FakeQemuImg()
    qemu_img.image = dataclasses.replace(qemu_img.image, data_file="/dev/sda")

    with pytest.raises(ImageRejectedError, match="data file"):
        run(make_command(tmp_path), downloader, qemu_img)
    assert pool_files(tmp_path) == []


def test_wrong_format_is_rejected(tmp_path, downloader):
    qemu_img = FakeQemuImg()
    qemu_img.image = dataclasses.replace(qemu_img.image, format="raw")

    with pytest.raises(ImageRejectedError, match="registered as QCOW2 but qemu-img reports"):
        run(make_command(tmp_path), downloader, qemu_img)
    assert pool_files(tmp_path) == []


@pytest.mark.parametrize(
    ("registered", "on_disk"), [("RAW", "raw"), ("ISO", "raw"), ("qcow2", "qcow2")]
)
def test_formats_map_to_what_qemu_img_reports(tmp_path, downloader, registered, on_disk):
    qemu_img = FakeQemuImg()
    qemu_img.image = dataclasses.replace(qemu_img.image, format=on_disk)

    result = run(make_command(tmp_path, format=registered, checksum=None), downloader, qemu_img)
    assert result.format == registered.upper()


def test_unsupported_format_is_rejected_before_downloading(tmp_path, downloader):
    with pytest.raises(ImageRejectedError, match="'VHD' is not supported"):
        run(make_command(tmp_path, format="VHD"), downloader, FakeQemuImg())
    assert downloader.fetches == []


def test_unreadable_image_is_rejected(tmp_path, downloader):
    qemu_img = FakeQemuImg(
        error=CommandFailedError(["qemu-img"], 1, b"Image is not in qcow2 format")
    )

    with pytest.raises(ImageRejectedError, match="not in qcow2 format"):
        run(make_command(tmp_path), downloader, qemu_img)
    assert pool_files(tmp_path) == []


def test_unknown_scheme_is_unsupported(tmp_path, downloader):
    with pytest.raises(UnsupportedUrlError, match="'ftp'"):
        run(make_command(tmp_path, url="ftp://origin.test/t.qcow2"), downloader, FakeQemuImg())


def test_malformed_url_is_unsupported(tmp_path, downloader):
    with pytest.raises(UnsupportedUrlError, match="malformed URL"):
        run(make_command(tmp_path, url="http://[::1/t.qcow2"), downloader, FakeQemuImg())


def test_image_larger_than_free_space_is_refused_before_writing(tmp_path, downloader, monkeypatch):
    monkeypatch.setattr(StoragePool, "available_bytes", lambda self: 100)

    with pytest.raises(PoolFullError, match=f"100 bytes available; the image needs {len(BODY)}"):
        run(make_command(tmp_path), downloader, FakeQemuImg())
    assert not downloader.first_chunk_written.is_set()
    assert pool_files(tmp_path) == []


def test_enospc_while_writing_is_pool_full(tmp_path):
    class FullDisk(FakeDownloader):
        def fetch(self, request, sink):
            sink.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(PoolFullError, match="ran out of space"):
        run(make_command(tmp_path), FullDisk(), FakeQemuImg())
    assert pool_files(tmp_path) == []


def test_other_write_errors_are_pool_unavailable(tmp_path):
    class BrokenDisk(FakeDownloader):
        def fetch(self, request, sink):
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(PoolUnavailableError, match="Input/output error"):
        run(make_command(tmp_path), BrokenDisk(), FakeQemuImg())


def test_source_errors_propagate_and_leave_nothing(tmp_path):
    downloader = FakeDownloader(errors={URL: SourceNotFoundError(f"HTTP 404 Not Found from {URL}")})

    with pytest.raises(SourceNotFoundError):
        run(make_command(tmp_path), downloader, FakeQemuImg())
    assert pool_files(tmp_path) == []


def test_cancelled_download_removes_its_temp_file(tmp_path):
    downloader = FakeDownloader(bodies={URL: BODY}, hold=threading.Event())
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def target():
        try:
            run(make_command(tmp_path), downloader, FakeQemuImg(), cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=target)
    worker.start()
    assert downloader.first_chunk_written.wait(5)
    assert len(pool_files(tmp_path)) == 1  # the .part file exists mid-transfer
    cancel.set()
    worker.join(5)

    assert isinstance(outcome[0], DownloadCancelledError)
    assert pool_files(tmp_path) == []


def test_missing_pool_is_unavailable(tmp_path, downloader):
    with pytest.raises(PoolUnavailableError, match="does not exist"):
        run(make_command(tmp_path / "absent"), downloader, FakeQemuImg())
    assert downloader.fetches == []


def test_unsafe_install_name_is_a_bad_command(tmp_path, downloader):
    with pytest.raises(BadCommandError, match="install name"):
        run(make_command(tmp_path, install_name="../escape.qcow2"), downloader, FakeQemuImg())
    assert downloader.fetches == []
    assert not (tmp_path.parent / "escape.qcow2").exists()


# pick_downloader ----------------------------------------------------------------------------


@pytest.fixture
def registry() -> dict[str, FakeDownloader]:
    return {name: FakeDownloader() for name in ("http", "https", "nfs", "metalink")}


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://origin.test/t.qcow2", "http"),
        ("HTTPS://origin.test/t.qcow2", "https"),
        ("nfs://filer/export/t.qcow2", "nfs"),
        ("http://origin.test/t.metalink", "metalink"),
        ("https://origin.test/images/t.META4", "metalink"),
        ("nfs://filer/export/t.meta4", "metalink"),
        ("http://origin.test/t.meta4?sig=abc", "metalink"),
        ("http://origin.test/t.qcow2?name=x.meta4", "http"),  # the path decides, not the query
        ("http://origin.test/metalink/t.qcow2", "http"),
    ],
)
def test_pick_downloader_by_metalink_suffix_then_scheme(registry, url, name):
    assert pick_downloader(url, registry) is registry[name]


def test_metalink_suffix_without_a_metalink_downloader_goes_by_scheme(registry):
    del registry["metalink"]
    assert pick_downloader("http://origin.test/t.meta4", registry) is registry["http"]


def test_metalink_is_not_a_scheme(registry):
    with pytest.raises(UnsupportedUrlError, match=r"supported: http, https, nfs\)"):
        pick_downloader("metalink://origin.test/t.qcow2", registry)
