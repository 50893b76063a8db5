import subprocess

import pytest

from tests.support import nfs as nfs_support
from tests.support.nfs import (
    RPCBIND_PORT,
    GaneshaServer,
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

        # rpcbind answers now, so a second server reuses it and starts only ganesha.
        with GaneshaServer() as inner:
            assert len(inner.started_pids) == 1
            inner_pids = inner.started_pids
        assert all(process_gone(pid) for pid in inner_pids)
        assert port_answers(RPCBIND_PORT)
        outer_pids = outer.started_pids
        directory = outer.directory
    assert all(process_gone(pid) for pid in outer_pids)
    assert not directory.exists()
