import gzip
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import CommandResult
from kvmcloud.agent.rbd.cli import Monitor, RbdAccess
from kvmcloud.agent.rbd.client import PARTIAL_PREFIX, RbdClient
from kvmcloud.agent.rbd.errors import (
    RbdError,
    RbdImageExistsError,
    RbdImageInUseError,
    RbdImageNotFoundError,
)
from kvmcloud.agent.rbd.sink import RbdStreamSink
from kvmcloud.protocol.checksums import Checksum, ChecksumMismatch
from tests.support.ceph import CephCluster, ceph_or_skip
from tests.support.images import make_qcow2, make_raw

pytestmark = pytest.mark.allow_commands("rbd", "ceph", "qemu-img")

IMAGE_BYTES = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def cluster() -> Iterator[CephCluster]:
    with ceph_or_skip() as running:
        yield running


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def seen_argv() -> list[list[str]]:
    return []


@pytest.fixture
def client(cluster: CephCluster, key_dir: Path, seen_argv: list[list[str]]) -> RbdClient:
    host, port = cluster.mon_host.split(":")
    access = RbdAccess((Monitor(host, int(port)),), cluster.pool, cluster.user)

    def recording_run(
        argv: Sequence[str], *, timeout_s: float, input: bytes | None = None
    ) -> CommandResult:
        seen_argv.append(list(argv))
        return commands.run(argv, timeout_s=timeout_s, input=input)

    return RbdClient(access, cluster.key, run=recording_run, key_dir=key_dir)


def exported_bytes(cluster: CephCluster, image: str, tmp_path: Path) -> bytes:
    out = tmp_path / f"{image}.export"
    cluster.admin("rbd", "export", "--no-progress", f"{cluster.pool}/{image}", str(out))
    return out.read_bytes()


def with_unaligned_first_cluster(qcow2: bytes) -> bytes:
    """Move the first data cluster's L2 entry off its alignment: qemu-img opens the image
    (so the RBD target is created) and fails reading it ("Cluster allocation offset …
    unaligned")."""
    data = bytearray(qcow2)
    offset_mask = 0x00FFFFFFFFFFFE00
    l1_offset = int.from_bytes(data[40:48], "big")
    l2_offset = int.from_bytes(data[l1_offset : l1_offset + 8], "big") & offset_mask
    entry = int.from_bytes(data[l2_offset : l2_offset + 8], "big")
    assert entry & offset_mask, "the first cluster must be allocated"
    data[l2_offset : l2_offset + 8] = (entry + 0x200).to_bytes(8, "big")
    return bytes(data)


def no_partials(client: RbdClient) -> bool:
    return not [name for name in client.images() if name.startswith(PARTIAL_PREFIX)]


def test_a_raw_stream_becomes_an_image_without_a_temporary_file(
    client: RbdClient, cluster: CephCluster, tmp_path: Path
) -> None:
    raw = tmp_path / "boot.raw"
    make_raw(raw, IMAGE_BYTES)
    data = raw.read_bytes()

    with client.importing("stream-1") as rbd_import:
        for offset in range(0, len(data), 1 << 20):
            rbd_import.write(data[offset : offset + (1 << 20)])

    assert "stream-1" in client.images()
    assert exported_bytes(cluster, "stream-1", tmp_path) == data
    assert no_partials(client)


def test_a_stream_failing_its_checksum_leaves_no_image(client: RbdClient) -> None:
    # The download engine's order: every byte hashed on its way into rbd import, the digest
    # checked before the block ends, and the rename only after that.
    verifier = Checksum.parse("{SHA-256}" + "0" * 64).new_verifier()

    def import_then_verify() -> None:
        with client.importing("stream-broken") as rbd_import:
            data = bytes(1 << 20)
            verifier.update(data)
            rbd_import.write(data)
            verifier.verify()

    with pytest.raises(ChecksumMismatch):
        import_then_verify()

    assert "stream-broken" not in client.images()
    assert no_partials(client)


def test_an_existing_name_is_refused_and_left_alone(client: RbdClient, tmp_path: Path) -> None:
    with client.importing("taken") as rbd_import:
        rbd_import.write(b"first")

    with pytest.raises(RbdImageExistsError), client.importing("taken") as rbd_import:
        rbd_import.write(b"second")

    assert "taken" in client.images()
    assert no_partials(client)


def test_a_qcow2_file_is_converted_to_raw(
    client: RbdClient, cluster: CephCluster, tmp_path: Path
) -> None:
    qcow2 = tmp_path / "boot.qcow2"
    make_qcow2(qcow2, IMAGE_BYTES)
    raw = tmp_path / "boot.raw"
    make_raw(raw, IMAGE_BYTES)

    client.import_file(qcow2, "qcow2", "converted-1")

    assert exported_bytes(cluster, "converted-1", tmp_path) == raw.read_bytes()
    assert no_partials(client)


def test_a_failed_conversion_leaves_no_image(client: RbdClient, tmp_path: Path) -> None:
    qcow2 = tmp_path / "boot.qcow2"
    make_qcow2(qcow2, IMAGE_BYTES)
    broken = tmp_path / "broken.qcow2"
    broken.write_bytes(with_unaligned_first_cluster(qcow2.read_bytes()))

    with pytest.raises(RbdError, match=r"converting broken\.qcow2 .*unaligned"):
        client.import_file(broken, "qcow2", "converted-broken")

    assert "converted-broken" not in client.images()
    assert no_partials(client)


def test_template_snapshot_clones_and_guarded_removal(
    client: RbdClient, cluster: CephCluster, tmp_path: Path
) -> None:
    raw = tmp_path / "boot.raw"
    make_raw(raw, IMAGE_BYTES)
    with client.importing("template-1") as rbd_import:
        rbd_import.write(raw.read_bytes())
    client.protect_snapshot("template-1", "base")
    client.clone("template-1", "base", "vm-1-root")
    client.clone("template-1", "base", "vm-2-root")

    assert sorted(client.children("template-1", "base")) == [
        f"{cluster.pool}/vm-1-root",
        f"{cluster.pool}/vm-2-root",
    ]
    assert exported_bytes(cluster, "vm-1-root", tmp_path) == raw.read_bytes()
    with pytest.raises(RbdImageInUseError) as refused:
        client.remove("template-1")
    assert len(refused.value.children) == 2
    assert "template-1" in client.images()

    client.remove("vm-1-root")
    client.remove("vm-2-root")
    client.remove("template-1")

    assert not {"template-1", "vm-1-root", "vm-2-root"} & set(client.images())
    with pytest.raises(RbdImageNotFoundError):
        client.remove("template-1")


def test_capacity_from_rbd_du_and_the_pool_quota(client: RbdClient, cluster: CephCluster) -> None:
    with client.importing("capacity-1") as rbd_import:
        rbd_import.write(b"\x01" * (1 << 20))

    before = client.capacity()
    cluster.admin("ceph", "osd", "pool", "set-quota", cluster.pool, "max_bytes", str(1 << 30))
    try:
        quota = client.capacity()
    finally:
        cluster.admin("ceph", "osd", "pool", "set-quota", cluster.pool, "max_bytes", "0")

    # No mgr in the test cluster: without a quota the capacity is unknown.
    assert before.capacity_bytes is None
    assert before.used_bytes >= 1 << 20
    assert before.allocated_bytes >= before.used_bytes
    assert quota.capacity_bytes == 1 << 30


def test_the_key_is_never_in_a_command_line_and_its_file_is_removed(
    client: RbdClient,
    cluster: CephCluster,
    key_dir: Path,
    seen_argv: list[list[str]],
    tmp_path: Path,
) -> None:
    qcow2 = tmp_path / "boot.qcow2"
    make_qcow2(qcow2, IMAGE_BYTES)
    client.import_file(qcow2, "qcow2", "key-check")
    client.capacity()
    with pytest.raises(RbdImageNotFoundError) as missing:
        client.remove("no-such-image")

    assert seen_argv
    assert not [argv for argv in seen_argv if any(cluster.key in arg for arg in argv)]
    assert cluster.key not in str(missing.value)
    assert list(key_dir.iterdir()) == []


def test_partials_of_an_earlier_run_are_removed(client: RbdClient, cluster: CephCluster) -> None:
    cluster.admin("rbd", "create", "--size", "1", f"{cluster.pool}/{PARTIAL_PREFIX}crashed")

    assert client.remove_partials() == [f"{PARTIAL_PREFIX}crashed"]
    assert no_partials(client)


def test_a_gzipped_raw_download_streams_into_rbd_through_the_sink(
    client: RbdClient, cluster: CephCluster, tmp_path: Path
) -> None:
    raw = tmp_path / "boot.raw"
    make_raw(raw, IMAGE_BYTES)
    published = gzip.compress(raw.read_bytes())
    verifier = Checksum.parse("{SHA-256}" + hashlib.sha256(published).hexdigest()).new_verifier()

    with client.importing("sink-1") as rbd_import:
        sink = RbdStreamSink(rbd_import, verifier)
        for offset in range(0, len(published), 65536):
            sink.write(published[offset : offset + 65536])
        sink.finish()
        verifier.verify()

    assert exported_bytes(cluster, "sink-1", tmp_path) == raw.read_bytes()
    assert sink.compression == "gzip"
    assert no_partials(client)
