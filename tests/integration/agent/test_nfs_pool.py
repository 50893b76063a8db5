import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.engine import download_template
from kvmcloud.agent.downloads.errors import ChecksumMismatchError
from kvmcloud.agent.downloads.nfs import NfsDownloader
from kvmcloud.agent.errors import PoolUnavailableError
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.agent.nfs_pool import NfsStoragePool, open_pool
from kvmcloud.agent.pool_files import new_attempt_id, new_host_tag
from kvmcloud.agent.pools import StoragePool
from kvmcloud.agent.vms.domain import nfs_disk_source
from kvmcloud.agent.vms.volumes import create_volume
from kvmcloud.protocol.agent_messages import (
    CreateVolumeCommand,
    DirectDownloadCommand,
    PoolSpec,
    PoolType,
    Timeouts,
)
from tests.support.egress import LOOPBACK_RULES
from tests.support.images import make_qcow2, sha256_of
from tests.support.nfs import HOST, GaneshaServer, nfs_or_skip

pytestmark = pytest.mark.allow_commands("nfs-ls", "nfs-cat", "qemu-img")

VIRTUAL_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def nfs_server() -> Iterator[GaneshaServer]:
    with nfs_or_skip() as server:
        make_qcow2(server.export_dir / "t.qcow2", VIRTUAL_BYTES)
        yield server


@pytest.fixture
def export(nfs_server: GaneshaServer, request: pytest.FixtureRequest) -> Path:
    return nfs_server.writable_subdir(request.node.name)


def spec_for(export: Path, server: str = HOST) -> PoolSpec:
    return PoolSpec(
        uuid="nfs-pool-1", type=PoolType.NETWORK_FILESYSTEM, path=str(export), server=server
    )


def download(nfs_server: GaneshaServer, export: Path, **fields: object) -> tuple[object, str]:
    attempt = new_attempt_id(new_host_tag())
    values: dict[str, object] = {
        "template_uuid": "tmpl-1",
        "url": nfs_server.url("t.qcow2"),
        "format": "QCOW2",
        "pool": spec_for(export),
        "install_name": "tmpl-1.qcow2",
        "timeouts": Timeouts(connect_s=3, read_s=3, request_s=3, total_s=60),
    }
    values.update(fields)
    result = download_template(
        DirectDownloadCommand(egress=LOOPBACK_RULES, **values),  # type: ignore[arg-type]
        attempt_id=attempt,
        downloaders={"nfs": NfsDownloader()},
        qemu_img=QemuImg(),
        cancel=threading.Event(),
        progress=lambda done, total: None,
    )
    return result, attempt


def test_open_pool_picks_the_backend_by_type(export: Path) -> None:
    assert isinstance(open_pool(spec_for(export)), NfsStoragePool)
    local = PoolSpec(uuid="l", type=PoolType.SHARED_MOUNT_POINT, path=str(export))
    assert isinstance(open_pool(local), StoragePool)


def test_check_reports_the_exports_space(export: Path) -> None:
    report = NfsStoragePool(spec_for(export)).check()
    assert report.uuid == "nfs-pool-1"
    assert 0 < report.available_bytes <= report.capacity_bytes
    # The check made the partial directory and left no probe file behind.
    assert [p.name for p in export.iterdir()] == [".kvmcloud-partial"]
    assert list((export / ".kvmcloud-partial").iterdir()) == []


def test_a_dead_server_or_missing_export_is_unavailable_in_bounded_time(
    nfs_server: GaneshaServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(PoolUnavailableError, match=r"127\.0\.0\.2"):
        NfsStoragePool(spec_for(tmp_path, server="127.0.0.2"), timeout_s=2).check()
    with pytest.raises(PoolUnavailableError, match="/no/such/export"):
        NfsStoragePool(spec_for(Path("/no/such/export")), timeout_s=2).check()
    assert time.monotonic() - started < 10


def test_a_check_that_hangs_is_given_up_on_time(export: Path) -> None:
    # A hung server cannot be made on demand here; the bound is the caller's wait.
    pool = NfsStoragePool(spec_for(export), timeout_s=1)
    started = time.monotonic()
    with pytest.raises(PoolUnavailableError, match="did not answer within 2 s"):
        pool._bounded(lambda nfs: time.sleep(30), "hang")
    assert time.monotonic() - started < 5


def test_direct_download_lands_in_the_export_atomically(
    nfs_server: GaneshaServer, export: Path, tmp_path: Path
) -> None:
    result, _ = download(nfs_server, export)
    assert result.install_path == f"nfs://{HOST}{export}/tmpl-1.qcow2"  # type: ignore[attr-defined]
    assert result.virtual_size_bytes == VIRTUAL_BYTES  # type: ignore[attr-defined]
    assert sha256_of(export / "tmpl-1.qcow2") == sha256_of(nfs_server.export_dir / "t.qcow2")
    assert list((export / ".kvmcloud-partial").iterdir()) == []
    pool = NfsStoragePool(spec_for(export))
    listed = pool.published_files(limit=10, max_entries=100)
    assert listed.names == ["tmpl-1.qcow2"] and not listed.truncated


def test_a_checksum_mismatch_publishes_nothing(
    nfs_server: GaneshaServer, export: Path, tmp_path: Path
) -> None:
    with pytest.raises(ChecksumMismatchError):
        download(nfs_server, export, checksum="{SHA-256}" + "0" * 64)
    assert not (export / "tmpl-1.qcow2").exists()
    assert list((export / ".kvmcloud-partial").iterdir()) == []


def test_root_disk_is_an_overlay_with_an_absolute_nfs_backing_url(
    nfs_server: GaneshaServer, export: Path, tmp_path: Path
) -> None:
    download(nfs_server, export)
    command = CreateVolumeCommand(
        pool=spec_for(export),
        name="ROOT-1.qcow2",
        size_bytes=2 * VIRTUAL_BYTES,
        backing_name="tmpl-1.qcow2",
        backing_format="QCOW2",
    )
    attempt = new_attempt_id(new_host_tag())
    volume = create_volume(command, qemu_img=QemuImg(), attempt_id=attempt)
    url = f"nfs://{HOST}{export}/ROOT-1.qcow2"
    assert volume.path == url
    assert volume.virtual_size_bytes == 2 * VIRTUAL_BYTES
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", "-U", str(export / "ROOT-1.qcow2")],
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    )
    assert info["backing-filename"] == f"nfs://{HOST}{export}/tmpl-1.qcow2"
    assert info["backing-filename-format"] == "qcow2"
    # Asking again gives the same volume; the disk's URL splits as libvirt needs it.
    again = create_volume(command, qemu_img=QemuImg(), attempt_id=new_attempt_id(new_host_tag()))
    assert again.path == url
    assert nfs_disk_source(url, what="disk") == (HOST, f"{export}/ROOT-1.qcow2")
    assert list((export / ".kvmcloud-partial").iterdir()) == []
    # Deleting goes through the export too.
    pool = NfsStoragePool(spec_for(export))
    assert pool.delete_file("ROOT-1.qcow2") is True
    assert pool.delete_file("ROOT-1.qcow2") is False


def test_stale_partials_of_this_host_are_removed_others_kept(export: Path) -> None:
    mine, other = new_host_tag(), new_host_tag()
    partial = export / ".kvmcloud-partial"
    partial.mkdir()
    (partial / f"a.qcow2.{new_attempt_id(mine)}.part").write_bytes(b"x")
    (partial / f"b.qcow2.{new_attempt_id(other)}.part").write_bytes(b"y")
    cleanup = NfsStoragePool(spec_for(export)).remove_own_partials(mine, max_entries=100)
    assert (cleanup.removed, cleanup.foreign, cleanup.failed) == (1, 1, 0)
    assert [p.name.startswith("b.qcow2") for p in partial.iterdir()] == [True]
