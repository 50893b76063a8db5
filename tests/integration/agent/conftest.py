"""Fixtures for the agent's integration tests: loopback servers, real test images, libvirt."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.heartbeat_server import HeartbeatServer
from tests.support.images import make_qcow2, sha256_of
from tests.support.libvirt import LibvirtDaemons, libvirt_or_skip
from tests.support.origin import Origin
from tests.support.processes import free_port
from tests.support.trust import TestTrust


@dataclass(frozen=True)
class Image:
    path: Path
    data: bytes
    sha256: str


@pytest.fixture(scope="session")
def qcow2_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The bootable test image as qcow2 (virtual size 1 MiB)."""
    path = tmp_path_factory.mktemp("images") / "boot.qcow2"
    digest = make_qcow2(path)
    return Image(path, path.read_bytes(), digest)


@pytest.fixture(scope="session")
def qcow2_with_backing_file(tmp_path_factory: pytest.TempPathFactory, qcow2_image: Image) -> Image:
    """A qcow2 overlay whose backing file is another file on the host (must be refused)."""
    path = tmp_path_factory.mktemp("images") / "overlay.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-f",
            "qcow2",
            "-b",
            str(qcow2_image.path),
            "-F",
            "qcow2",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Image(path, path.read_bytes(), sha256_of(path))


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as server:
        yield server


@pytest.fixture
def trust(tmp_path: Path) -> TestTrust:
    """A CA and server certificate, as a management server holds them."""
    return TestTrust(tmp_path / "pki")


@pytest.fixture
def heartbeat_server(trust: TestTrust) -> Iterator[HeartbeatServer]:
    """A stand-in management server on loopback collecting heartbeats (mutual TLS)."""
    with HeartbeatServer.running(trust) as server:
        yield server


@pytest.fixture
def pool_dir(tmp_path: Path) -> Path:
    path = tmp_path / "pool"
    path.mkdir()
    return path


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


def pool_files(pool: Path) -> list[str]:
    """Every file under the pool, relative, sorted (partial files included)."""
    return sorted(str(p.relative_to(pool)) for p in pool.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def libvirt_daemons(libvirt_run_lock: None) -> Iterator[LibvirtDaemons]:
    """A working qemu:///system: running daemons reused, or ours started (skip/fail in CI)."""
    with libvirt_or_skip() as daemons:
        yield daemons
