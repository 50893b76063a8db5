"""RbdStoragePool and the RBD download against a throwaway Ceph cluster."""

import gzip
import hashlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.downloads.errors import ChecksumMismatchError, ImageRejectedError
from kvmcloud.agent.downloads.http import HttpDownloader
from kvmcloud.agent.errors import BadCommandError, PoolUnavailableError
from kvmcloud.agent.handlers import CommandHandlers, Execution
from kvmcloud.agent.host.qemu_img import QemuImg
from kvmcloud.agent.pool_files import new_attempt_id, new_host_tag
from kvmcloud.agent.pool_kinds import open_pool
from kvmcloud.agent.rbd.client import PARTIAL_PREFIX
from kvmcloud.agent.rbd.download import download_into_rbd
from kvmcloud.agent.rbd.pool import TEMPLATE_SNAPSHOT, RbdStoragePool, partial_image_name
from kvmcloud.agent.vms.volumes import create_volume
from kvmcloud.protocol.agent_messages import (
    CheckPoolCommand,
    CreateVolumeCommand,
    DirectDownloadCommand,
    DirectDownloadResult,
    PoolSpec,
    PoolType,
    Timeouts,
)
from tests.support.ceph import CephCluster, ceph_or_skip
from tests.support.egress import LOOPBACK_RULES
from tests.support.images import boot_sector
from tests.support.origin import Origin

pytestmark = pytest.mark.allow_commands("rbd", "ceph", "qemu-img")

IMAGE_BYTES = 4 * 1024 * 1024
QUOTA_BYTES = 1024**3
RAW = boot_sector() + os.urandom(IMAGE_BYTES - 512 - 1024 * 1024) + bytes(1024 * 1024)


@pytest.fixture(scope="module")
def cluster() -> Iterator[CephCluster]:
    with ceph_or_skip() as running:
        # No mgr here: the quota is what gives the pool a known capacity.
        running.admin(
            "ceph", "osd", "pool", "set-quota", running.pool, "max_bytes", str(QUOTA_BYTES)
        )
        yield running


def spec_for(cluster: CephCluster, *, secret: str | None = None, server: str = "") -> PoolSpec:
    return PoolSpec(
        uuid="0f6f0c4e-3c1b-4b7e-9a43-9d3d5f2b1a01",
        type=PoolType.RBD,
        path=cluster.pool,
        server=server or cluster.mon_host,
        user=cluster.user,
        secret=secret or cluster.key,
    )


def download(
    cluster: CephCluster, origin: Origin, path: str, fmt: str, name: str, **fields: object
) -> DirectDownloadResult:
    http = HttpDownloader(reconnect_pause_s=0.01)
    values: dict[str, object] = {
        "template_uuid": "tmpl-1",
        "url": origin.url(path),
        "format": fmt,
        "pool": spec_for(cluster),
        "install_name": name,
        "timeouts": Timeouts(connect_s=2, read_s=5, total_s=60),
    }
    values.update(fields)
    return download_into_rbd(
        DirectDownloadCommand(egress=LOOPBACK_RULES, **values),  # type: ignore[arg-type]
        attempt_id=new_attempt_id(new_host_tag()),
        downloaders={"http": http},
        qemu_img=QemuImg(),
        cancel=threading.Event(),
        progress=lambda done, total: None,
    )


def images(cluster: CephCluster) -> set[str]:
    return set(RbdStoragePool(spec_for(cluster)).client.images())


def exported(cluster: CephCluster, image: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"{image}.raw"
    cluster.admin("rbd", "export", "--no-progress", f"{cluster.pool}/{image}", str(out))
    return out.read_bytes()


def test_check_reports_the_pool_quota_and_open_pool_picks_rbd(cluster: CephCluster) -> None:
    spec = spec_for(cluster)
    assert isinstance(open_pool(spec), RbdStoragePool)
    report = RbdStoragePool(spec).check()
    assert report.capacity_bytes == QUOTA_BYTES
    assert 0 < report.available_bytes <= QUOTA_BYTES


def test_a_dead_monitor_is_unavailable_in_bounded_time(cluster: CephCluster) -> None:
    spec = spec_for(cluster, server="127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(PoolUnavailableError, match=r"127\.0\.0\.1:9"):
        RbdStoragePool(spec).check()
    # rbd gives up by itself (client_mount_timeout), within the check's time limit.
    assert time.monotonic() - started < 20
    with pytest.raises(PoolUnavailableError, match=r"127\.0\.0\.1:9"):
        RbdStoragePool(spec, check_timeout_s=2).check()


def test_a_raw_template_streams_into_rbd_and_gets_a_protected_snapshot(
    cluster: CephCluster, origin: Origin, tmp_path: Path
) -> None:
    origin.files["/t.raw"] = RAW
    digest = hashlib.sha256(RAW).hexdigest()
    result = download(cluster, origin, "/t.raw", "RAW", "tmpl-raw", checksum=digest)
    assert result.install_path == "tmpl-raw"
    assert result.virtual_size_bytes == IMAGE_BYTES
    assert exported(cluster, "tmpl-raw", tmp_path) == RAW
    snaps = RbdStoragePool(spec_for(cluster)).client.snapshots("tmpl-raw")
    assert [(s.name, s.protected) for s in snaps] == [(TEMPLATE_SNAPSHOT, True)]
    assert not any(n.startswith(PARTIAL_PREFIX) for n in images(cluster))


def test_a_qcow2_template_is_spooled_and_converted(
    cluster: CephCluster, origin: Origin, tmp_path: Path
) -> None:
    raw = tmp_path / "src.raw"
    raw.write_bytes(RAW)
    qcow2 = tmp_path / "src.qcow2"
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
        check=True,
        timeout=60,
    )
    origin.files["/t.qcow2.gz"] = gzip.compress(qcow2.read_bytes())
    result = download(cluster, origin, "/t.qcow2.gz", "QCOW2", "tmpl-qcow2")
    assert result.virtual_size_bytes == IMAGE_BYTES
    assert exported(cluster, "tmpl-qcow2", tmp_path) == RAW
    assert not any(n.startswith(PARTIAL_PREFIX) for n in images(cluster))


@pytest.mark.parametrize(("path", "fmt"), [("/bad.raw", "RAW"), ("/bad.qcow2", "QCOW2")])
def test_a_checksum_mismatch_leaves_no_image(
    cluster: CephCluster, origin: Origin, path: str, fmt: str
) -> None:
    origin.files[path] = RAW
    before = images(cluster)
    with pytest.raises(ChecksumMismatchError):
        download(cluster, origin, path, fmt, f"tmpl-bad-{fmt.lower()}", checksum="0" * 64)
    assert images(cluster) == before


def test_a_failed_conversion_leaves_no_image(cluster: CephCluster, origin: Origin) -> None:
    # Says qcow2 and is not: qemu-img refuses it before anything is written to the pool...
    origin.files["/fake.qcow2"] = b"QFI\xfb" + bytes(1020)
    before = images(cluster)
    with pytest.raises(ImageRejectedError):
        download(cluster, origin, "/fake.qcow2", "QCOW2", "tmpl-fake")
    # ...and a qcow2 registered as RAW is refused in the stream, its partial removed.
    with pytest.raises(ImageRejectedError, match="qcow2"):
        download(cluster, origin, "/fake.qcow2", "RAW", "tmpl-fake")
    assert images(cluster) == before


def test_a_conversion_that_fails_in_qemu_img_leaves_no_image(
    cluster: CephCluster, tmp_path: Path
) -> None:
    pool = RbdStoragePool(spec_for(cluster))
    broken = tmp_path / "broken.qcow2"
    broken.write_bytes(b"QFI\xfb" + bytes(4092))
    before = images(cluster)
    partial = partial_image_name(new_attempt_id(new_host_tag()))
    with pytest.raises(Exception, match="converting"):
        pool.client.import_file(broken, "qcow2", "tmpl-broken", partial=partial)
    assert images(cluster) == before


def test_volumes_are_clones_and_the_template_stays_while_they_exist(
    cluster: CephCluster, origin: Origin
) -> None:
    origin.files["/c.raw"] = RAW
    download(cluster, origin, "/c.raw", "RAW", "tmpl-clone")
    spec = spec_for(cluster)
    result = create_volume(
        CreateVolumeCommand(
            pool=spec,
            name="ROOT-1",
            size_bytes=2 * IMAGE_BYTES,
            backing_name="tmpl-clone",
            backing_format="qcow2",
        ),
        qemu_img=QemuImg(),
        attempt_id="a1",
    )
    assert result.path == "ROOT-1"
    assert result.virtual_size_bytes == 2 * IMAGE_BYTES
    pool = RbdStoragePool(spec)
    assert pool.client.children("tmpl-clone", TEMPLATE_SNAPSHOT) == [f"{cluster.pool}/ROOT-1"]
    assert pool.client.image_size("ROOT-1") == 2 * IMAGE_BYTES
    with pytest.raises(BadCommandError, match="ROOT-1"):
        pool.delete_file("tmpl-clone")
    assert pool.delete_file("ROOT-1") is True
    assert pool.delete_file("ROOT-1") is False
    assert pool.delete_file("tmpl-clone") is True
    assert not {"ROOT-1", "tmpl-clone"} & images(cluster)


def test_a_restart_removes_only_this_hosts_partial_images(cluster: CephCluster) -> None:
    pool = RbdStoragePool(spec_for(cluster))
    mine, other = new_host_tag(), new_host_tag()
    own = partial_image_name(new_attempt_id(mine))
    foreign = partial_image_name(new_attempt_id(other))
    for name in (own, foreign):
        pool.client.create(name, 1024 * 1024)
    cleanup = pool.remove_own_partials(mine, max_entries=1000)
    assert cleanup.removed == 1 and cleanup.foreign >= 1
    assert own not in images(cluster) and foreign in images(cluster)
    assert pool.published_files(limit=100, max_entries=1000).names == sorted(
        n for n in images(cluster) if not n.startswith(PARTIAL_PREFIX)
    )
    pool.client.remove(foreign)


def test_the_key_is_in_no_log_and_no_error(
    cluster: CephCluster, caplog: pytest.LogCaptureFixture
) -> None:
    handlers = CommandHandlers(
        downloaders={},
        qemu_img=QemuImg(),
        vms=None,
        certificates=None,  # type: ignore[arg-type]
    )
    execution = Execution(command_id="c1", cancel=threading.Event(), progress=lambda d, t: None)
    # A wrong key: the cluster refuses it, the agent logs and answers the failure.
    wrong = spec_for(cluster, secret="AQBad0tleUhlcmVJc05vdFRoZVJpZ2h0S2V5PT0=")
    caplog.set_level(logging.DEBUG)
    answer = handlers.execute(CheckPoolCommand(pool=wrong), execution)
    assert not answer.ok
    good = handlers.execute(CheckPoolCommand(pool=spec_for(cluster)), execution)
    assert good.ok
    assert wrong.secret is not None and cluster.key not in repr(spec_for(cluster))
    for record in caplog.records:
        assert wrong.secret not in record.getMessage()
        assert cluster.key not in record.getMessage()
    assert answer.error is not None and wrong.secret not in answer.error.message
