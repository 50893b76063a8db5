import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmcloud.agent.nfs_export import NfsExport, NfsExportError
from tests.support.nfs import HOST, GaneshaServer, nfs_or_skip


@pytest.fixture(scope="module")
def nfs_server() -> Iterator[GaneshaServer]:
    with nfs_or_skip() as server:
        yield server


@pytest.fixture
def pool_dir(nfs_server: GaneshaServer, request: pytest.FixtureRequest) -> Path:
    return nfs_server.writable_subdir(request.node.name)


def mounted(export: Path) -> NfsExport:
    return NfsExport(HOST, str(export), timeout_s=5)


def test_publish_writes_under_the_partial_name_then_renames(pool_dir: Path) -> None:
    block = os.urandom(256 * 1024)
    chunks = [block] * 20
    with mounted(pool_dir) as nfs:
        nfs.mkdir(".kvmcloud-partial")
        nfs.mkdir(".kvmcloud-partial")  # already there: fine
        size = nfs.publish(".kvmcloud-partial/t.qcow2.a1.partial", "t.qcow2", iter(chunks))
        assert size == 20 * len(block)
        assert (pool_dir / "t.qcow2").read_bytes() == block * 20
        assert list((pool_dir / ".kvmcloud-partial").iterdir()) == []
        stats = nfs.stat("t.qcow2")
        assert stats is not None and stats.is_regular and stats.size_bytes == size
        again = hashlib.sha256(b"".join(nfs.read_chunks("t.qcow2"))).hexdigest()
        assert again == hashlib.sha256(block * 20).hexdigest()


def test_a_failed_write_publishes_nothing_and_leaves_no_partial(pool_dir: Path) -> None:
    (pool_dir / "t.qcow2").write_bytes(b"old copy")

    def broken() -> Iterator[bytes]:
        yield b"x" * 100_000
        raise RuntimeError("source went away")

    with mounted(pool_dir) as nfs:
        nfs.mkdir(".kvmcloud-partial")
        with pytest.raises(RuntimeError, match="source went away"):
            nfs.publish(".kvmcloud-partial/t.qcow2.a2.partial", "t.qcow2", broken())
        assert list((pool_dir / ".kvmcloud-partial").iterdir()) == []
    assert (pool_dir / "t.qcow2").read_bytes() == b"old copy"


def test_stat_list_delete_and_space(pool_dir: Path) -> None:
    (pool_dir / "a.raw").write_bytes(b"a" * 4096)
    (pool_dir / "sub").mkdir()
    with mounted(pool_dir) as nfs:
        assert nfs.stat("missing") is None
        sub = nfs.stat("sub")
        assert sub is not None and sub.is_directory and not sub.is_regular
        assert sorted(nfs.list_directory(max_entries=100)) == [("a.raw", True), ("sub", False)]
        assert len(nfs.list_directory(max_entries=1)) == 1
        assert nfs.unlink("a.raw") is True
        assert nfs.unlink("a.raw") is False
        space = nfs.space()
        local = os.statvfs(pool_dir)
        assert space.capacity_bytes == local.f_blocks * local.f_frsize
        assert 0 < space.available_bytes <= space.capacity_bytes
    assert not (pool_dir / "a.raw").exists()


def test_creating_an_existing_partial_name_is_refused(pool_dir: Path) -> None:
    (pool_dir / "taken").write_bytes(b"someone else's")
    with mounted(pool_dir) as nfs, pytest.raises(NfsExportError) as raised:
        nfs.write_new("taken", [b"mine"])
    assert raised.value.errno == errno.EEXIST
    assert (pool_dir / "taken").read_bytes() == b"someone else's"


def test_the_read_only_export_refuses_writes(nfs_server: GaneshaServer) -> None:
    with mounted(nfs_server.export_dir) as nfs, pytest.raises(NfsExportError) as raised:
        nfs.write_new("nope", [b"x"])
    assert raised.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    assert not (nfs_server.export_dir / "nope").exists()


def test_mounting_a_missing_export_or_a_dead_server_fails(
    nfs_server: GaneshaServer, tmp_path: Path
) -> None:
    with pytest.raises(NfsExportError, match=r"mount 127\.0\.0\.1:/no/such/export"):
        mounted(Path("/no/such/export")).__enter__()
    # Nothing listens on 127.0.0.2: no rpcbind, connection refused at once.
    with pytest.raises(NfsExportError, match=r"mount 127\.0\.0\.2"):
        NfsExport("127.0.0.2", str(tmp_path), timeout_s=2).__enter__()
