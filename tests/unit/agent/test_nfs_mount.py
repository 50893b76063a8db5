"""MountedNfsPool: a mounted export used as a directory pool, every probe bounded in time.

These machines have no kernel NFS client, so no export is really mounted: the mount table
the pool reads is a file written by the test, and the mount point a local directory.
What is real: the blocking call (a FIFO opened for reading blocks in the kernel until a
writer comes, as a stat on a hung mount does) and, below, mount(8) itself.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest

from kvmcloud.agent.errors import PoolUnavailableError
from kvmcloud.agent.host.commands import run
from kvmcloud.agent.nfs_modes import NfsAccess, NfsMode, kernel_nfs_listed
from kvmcloud.agent.nfs_mount import MountedNfsPool
from kvmcloud.agent.nfs_pool import NfsStoragePool, open_pool
from kvmcloud.agent.pools import PARTIAL_DIR_NAME
from kvmcloud.protocol.agent_messages import PoolSpec, PoolType

UUID = "5f0c5b7e-1d2a-4c4b-9a57-0c8f3f1e2d11"
SPEC = PoolSpec(uuid=UUID, type=PoolType.NETWORK_FILESYSTEM, path="/export/p", server="127.0.0.1")


def _access(base: Path, timeout_s: float = 0.5) -> NfsAccess:
    return NfsAccess(mode=NfsMode.MOUNT, reason="test", mount_base=base, probe_timeout_s=timeout_s)


def _mounted_pool(tmp_path: Path) -> MountedNfsPool:
    base = tmp_path / "mnt"
    (base / UUID / PARTIAL_DIR_NAME).mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"127.0.0.1:/export/p {base / UUID} nfs4 rw 0 0\n", encoding="utf-8")
    return MountedNfsPool(SPEC, access=_access(base), run=run, mounts_file=mounts)


def test_open_pool_picks_the_implementation_by_mode(tmp_path: Path) -> None:
    assert isinstance(open_pool(SPEC), NfsStoragePool)
    mounted = open_pool(SPEC, _access(tmp_path))
    assert isinstance(mounted, MountedNfsPool)
    assert mounted.path == tmp_path / UUID


def test_a_mounted_pool_is_checked_as_a_directory(tmp_path: Path) -> None:
    pool = _mounted_pool(tmp_path)
    report = pool.check()
    assert report.uuid == UUID
    assert report.capacity_bytes > 0
    assert pool.published_files(limit=10, max_entries=100).names == []


def test_a_probe_that_blocks_makes_the_pool_unavailable_in_time(tmp_path: Path) -> None:
    pool = _mounted_pool(tmp_path)
    fifo = pool.path / "template.qcow2"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(PoolUnavailableError, match=r"did not answer within 0\.5 s"):
        pool.open_published("template.qcow2", 0)
    assert time.monotonic() - started < 3
    # Unblock the worker left behind, so it ends with the test.
    fd = os.open(fifo, os.O_WRONLY)
    os.close(fd)


def test_something_else_on_the_mount_point_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "mnt"
    (base / UUID).mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"10.9.9.9:/other {base / UUID} nfs rw 0 0\n", encoding="utf-8")
    pool = MountedNfsPool(SPEC, access=_access(base), run=run, mounts_file=mounts)
    with pytest.raises(PoolUnavailableError, match=r"holds 10\.9\.9\.9:/other"):
        pool.check()


@pytest.mark.skipif(
    kernel_nfs_listed(Path("/proc/filesystems").read_text(encoding="utf-8")),
    reason="this host has a kernel NFS client: the mount could succeed; this test is for "
    "hosts without one",
)
def test_a_real_mount_that_fails_says_why(tmp_path: Path) -> None:
    """mount(8) really runs: without a kernel NFS client it fails, harmlessly."""
    if subprocess.run(["which", "mount"], capture_output=True, check=False).returncode:
        pytest.skip("mount(8) is not installed")
    base = tmp_path / "mnt"
    mounts = tmp_path / "mounts"
    mounts.write_text("", encoding="utf-8")
    pool = MountedNfsPool(SPEC, access=_access(base, 5), run=run, mounts_file=mounts)
    with pytest.raises(PoolUnavailableError, match=r"cannot mount 127\.0\.0\.1:/export/p on"):
        pool.check()
    assert (base / UUID).is_dir()  # the mount point was made


def test_a_published_download_is_named_by_its_nfs_url(tmp_path: Path) -> None:
    pool = _mounted_pool(tmp_path)
    temp = pool.temp_path("tmpl-1", "attempt-1")
    temp.write_bytes(b"image")

    path, size = pool.publish_download(temp, "tmpl-1")

    assert (path, size) == ("nfs://127.0.0.1/export/p/tmpl-1", 5)
    assert (pool.path / "tmpl-1").read_bytes() == b"image"
