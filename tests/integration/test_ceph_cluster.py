import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ceph as ceph_support
from tests.support.ceph import CephCluster, CephUnavailableError, ceph_or_skip
from tests.support.images import make_raw
from tests.support.processes import process_gone


@pytest.fixture(scope="module")
def cluster() -> Iterator[CephCluster]:
    with ceph_or_skip() as running:
        yield running


def _as_user(cluster: CephCluster, keyfile: Path, *args: str, input: bytes | None = None) -> bytes:
    """Run the CLI ``args[0]`` as the cluster's non-admin user, with no ceph.conf at all."""
    argv = [args[0], "-m", cluster.mon_host, "--id", cluster.user, "--keyfile", str(keyfile)]
    completed = subprocess.run(
        [*argv, *args[1:]], input=input, capture_output=True, timeout=30, check=True
    )
    return completed.stdout


@pytest.fixture
def keyfile(cluster: CephCluster, tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text(cluster.key)
    path.chmod(0o600)
    return path


def test_missing_programs_make_ceph_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ceph_support, "REQUIRED_PROGRAMS", ("kvmcloud-no-such-ceph-mon",))

    with pytest.raises(CephUnavailableError, match="kvmcloud-no-such-ceph-mon not found"):
        CephCluster().start()


def test_ceph_or_skip_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ceph_support, "REQUIRED_PROGRAMS", ("kvmcloud-no-such-ceph-mon",))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception), ceph_or_skip():
        pass

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception), ceph_or_skip():
        pass


def test_user_imports_from_a_pipe_snapshots_and_clones(
    cluster: CephCluster, keyfile: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "boot.raw"
    make_raw(raw, 4 * 1024 * 1024)
    image = f"{cluster.pool}/harness-template"

    _as_user(cluster, keyfile, "rbd", "import", "-", image, input=raw.read_bytes())
    _as_user(cluster, keyfile, "rbd", "snap", "create", f"{image}@base")
    _as_user(cluster, keyfile, "rbd", "snap", "protect", f"{image}@base")
    _as_user(cluster, keyfile, "rbd", "clone", f"{image}@base", f"{cluster.pool}/harness-vm")

    children = _as_user(cluster, keyfile, "rbd", "children", f"{image}@base")
    assert children.decode().split() == [f"{cluster.pool}/harness-vm"]
    exported = _as_user(cluster, keyfile, "rbd", "export", f"{cluster.pool}/harness-vm", "-")
    assert exported == raw.read_bytes()


def test_qemu_img_reads_the_rbd_string_form(cluster: CephCluster, keyfile: Path) -> None:
    _as_user(cluster, keyfile, "rbd", "create", "--size", "8", f"{cluster.pool}/harness-info")
    # CloudStack's form; ':' inside a value is escaped with '\'.
    mon = cluster.mon_host.replace(":", "\\:")
    source = f"rbd:{cluster.pool}/harness-info:mon_host={mon}:id={cluster.user}:keyfile={keyfile}"

    info = subprocess.run(
        ["qemu-img", "info", "--output=json", source],
        capture_output=True,
        timeout=30,
        check=True,
    )

    assert json.loads(info.stdout)["virtual-size"] == 8 * 1024 * 1024


def test_stops_what_it_started_by_pid() -> None:
    with ceph_or_skip() as cluster:
        pids = cluster.started_pids
        directory = cluster.directory
        assert len(pids) == 2
        assert cluster.startup_s is not None
    assert all(process_gone(pid) for pid in pids)
    assert not directory.exists()
