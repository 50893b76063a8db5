import os
import subprocess
from pathlib import Path

import pytest

from tests.support import nfs as nfs_support
from tests.support.nfs import (
    RPCBIND_PORT,
    GaneshaServer,
    NfsStartError,
    NfsUnavailableError,
    nfs_or_skip,
    port_answers,
)
from tests.support.processes import process_gone


def test_missing_programs_make_nfs_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nfs_support, "REQUIRED_PROGRAMS", ("kvmcloud-no-such-ganesha",))

    with pytest.raises(NfsUnavailableError, match="kvmcloud-no-such-ganesha not found"):
        GaneshaServer().start()


def test_nfs_or_skip_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nfs_support, "REQUIRED_PROGRAMS", ("kvmcloud-no-such-ganesha",))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception), nfs_or_skip():
        pass

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception), nfs_or_skip():
        pass


def test_serves_on_its_own_port_and_stops_what_it_started_by_pid() -> None:
    with nfs_or_skip() as outer:
        assert outer.port != 2049
        (outer.export_dir / "hello.txt").write_bytes(b"hello over NFS")
        url = f"nfs://127.0.0.1{outer.export_dir}/hello.txt?nfsport={outer.port}"
        served = subprocess.run(["nfs-cat", url], capture_output=True, timeout=10, check=True)
        assert served.stdout == b"hello over NFS"

        # Only one ganesha per machine: a second one waits for the first, then gives up.
        second = GaneshaServer(lock_timeout_s=0.3)
        with pytest.raises(NfsStartError, match=rf"pid {os.getpid()}\)"):
            second.start()
        assert second.started_pids == []
        assert port_answers(RPCBIND_PORT)
        outer_pids = outer.started_pids
        directory = outer.directory
    assert all(process_gone(pid) for pid in outer_pids)
    assert not directory.exists()


def test_writable_export_takes_files_in_a_per_test_subfolder(tmp_path: Path) -> None:
    with nfs_or_skip() as server:
        pool = server.writable_subdir("pool-a")
        assert server.pool_url(pool) == f"nfs://127.0.0.1{pool}"
        local = tmp_path / "data.bin"
        local.write_bytes(b"written over NFS" * 1000)
        # No nfsport: the client finds ganesha through rpcbind, as QEMU and libvirt do.
        subprocess.run(
            ["nfs-cp", str(local), f"{server.pool_url(pool)}/data.bin"],
            capture_output=True,
            timeout=10,
            check=True,
        )
        assert (pool / "data.bin").read_bytes() == local.read_bytes()
        # The read-only export still refuses writes.
        refused = subprocess.run(
            ["nfs-cp", str(local), f"nfs://127.0.0.1{server.export_dir}/data.bin"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert refused.returncode != 0
        assert not (server.export_dir / "data.bin").exists()
