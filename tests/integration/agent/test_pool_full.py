"""Disk full on a real 8 MiB tmpfs pool: a clear pool_full error and nothing left behind."""

import gzip
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from kvmcloud.agent.app import create_app
from kvmcloud.agent.pools import PARTIAL_DIR_NAME
from kvmcloud.agent.settings import AgentSettings
from kvmcloud.protocol.agent_messages import (
    CommandEnvelope,
    CommandState,
    CommandStatus,
    DirectDownloadCommand,
    EnrollRequest,
    ErrorInfo,
    HostReport,
    PoolSpec,
    PoolType,
    Timeouts,
    command_to_json,
    from_json,
    to_json,
)
from tests.integration.agent.conftest import pool_files
from tests.support.origin import Origin
from tests.support.required import required

pytestmark = pytest.mark.allow_commands("qemu-img")

MIB = 1024 * 1024
POOL_SIZE = 8 * MIB
TOKEN = "enrol-token-pool-full"
KEY = "host-key-pool-full"
REPORT = HostReport(
    hostname="kvm1",
    agent_version="0.1.0",
    cpu_count=2,
    cpu_mhz=2400,
    memory_bytes=2**33,
    hypervisor_version="7.2.22",
    kvm_available=True,
)


class TmpfsUnavailableError(Exception):
    """tmpfs cannot be mounted here (not root, no mount(8), or the kernel refuses)."""


class Tmpfs:
    """A tmpfs of a fixed size mounted on ``path``, unmounted by ``stop()``."""

    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes
        self._mounted = False

    def start(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        argv = ["mount", "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0755", "tmpfs"]
        try:
            result = subprocess.run(
                [*argv, str(self.path)], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TmpfsUnavailableError(f"cannot run mount: {exc}") from exc
        if result.returncode != 0:
            raise TmpfsUnavailableError(f"mount -t tmpfs failed: {result.stderr.strip()}")
        self._mounted = True

    def stop(self) -> None:
        if not self._mounted:
            return
        # Bounded: a file still open (a process not yet gone) makes umount busy for a moment.
        for _ in range(20):
            result = subprocess.run(
                ["umount", str(self.path)], capture_output=True, timeout=30, check=False
            )
            if result.returncode == 0:
                self._mounted = False
                return
            time.sleep(0.25)
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30)
        self._mounted = False


@pytest.fixture
def small_pool(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs as the pool (skipped locally when mounting is refused; fails in CI)."""
    with required(
        Tmpfs(tmp_path / "tmpfs-pool", POOL_SIZE),
        unavailable=TmpfsUnavailableError,
        what="mounting a tmpfs (root)",
    ) as tmpfs:
        yield tmpfs.path


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[TestClient]:
    state_dir = tmp_path / "state"
    settings = AgentSettings(
        state_dir=state_dir,
        enroll_token=TOKEN,
        buffer_size_bytes=64 * 1024,
        libvirt_uri=f"qemu+unix:///system?socket={state_dir}/no-libvirt-sock",
        console_dir=state_dir / "consoles",
        cert_dir=state_dir / "certs",
    )
    app = create_app(
        settings,
        host_report=lambda: REPORT,
        http_client=httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"interval_s": 60}))
        ),
    )
    with TestClient(app) as client:
        enrol = EnrollRequest(token=TOKEN, host_uuid="h1", host_key=KEY, server_url="http://m.test")
        assert client.post("/enroll", content=to_json(enrol)).status_code == 200
        yield client


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def start_download(client: TestClient, command_id: str, origin: Origin, pool: Path) -> None:
    command = DirectDownloadCommand(
        template_uuid="t1",
        url=origin.url("/t.raw"),
        format="RAW",
        pool=PoolSpec(uuid="tmpfs-pool", type=PoolType.FILESYSTEM, path=str(pool)),
        install_name="t1.raw",
        timeouts=Timeouts(connect_s=2, read_s=5, total_s=30),
    )
    body = command_to_json(CommandEnvelope(id=command_id, command=command))
    response = client.post("/commands", content=body, headers=auth())
    assert response.status_code in (200, 202), response.text


def status(client: TestClient, command_id: str, wait_s: float = 0) -> CommandStatus:
    response: Any = client.get(f"/commands/{command_id}", params={"wait_s": wait_s}, headers=auth())
    return from_json(CommandStatus, response.content)


def failure(client: TestClient, command_id: str) -> ErrorInfo:
    final = status(client, command_id, wait_s=30)
    assert final.state is CommandState.DONE
    assert final.answer is not None and not final.answer.ok, final.answer
    assert final.answer.error is not None
    return final.answer.error


def assert_pool_clean(pool: Path, *expected: str) -> None:
    """Only the named files: no temporary file survives (the partial dir may stay, empty)."""
    assert pool_files(pool) == sorted(expected)
    partial_dir = pool / PARTIAL_DIR_NAME
    assert not partial_dir.exists() or list(partial_dir.iterdir()) == []


def raw_image(size: int) -> bytes:
    return b"\xfa\x31\xc0" + bytes(size - 3)


def test_an_image_known_to_be_too_big_is_refused_before_it_is_written(
    agent: TestClient, small_pool: Path
) -> None:
    image = raw_image(12 * MIB)
    with Origin(files={"/t.raw": image}, delay_s=0.01) as origin:
        start_download(agent, "d1", origin, small_pool)
        error = failure(agent, "d1")
        sent = origin.bytes_sent("/t.raw")

    assert error.code == "pool_full"
    assert "bytes available" in error.message and f"needs {len(image)} bytes" in error.message
    assert str(small_pool) in error.message
    assert sent < 4 * MIB  # the transfer stopped at the headers, not when the disk filled
    assert_pool_clean(small_pool)


def test_a_compressed_image_expanding_past_the_free_space_is_stopped(
    agent: TestClient, small_pool: Path
) -> None:
    # 12 MiB of image in a few KiB of gzip: the size the URL announces says nothing.
    compressed = gzip.compress(raw_image(12 * MIB))
    assert len(compressed) < MIB
    with Origin(files={"/t.raw": compressed}) as origin:
        start_download(agent, "d1", origin, small_pool)
        error = failure(agent, "d1")

    assert error.code == "pool_full"
    assert "space" in error.message and "gzip" in error.message
    assert_pool_clean(small_pool)


def test_a_disk_filled_by_another_writer_mid_download_fails_cleanly(
    agent: TestClient, small_pool: Path
) -> None:
    # 6 MiB fits in the empty pool, so both up-front checks pass; then something else
    # takes 4 MiB of the pool, and the write hits ENOSPC for real.
    image = raw_image(6 * MIB)
    with Origin(files={"/t.raw": image}, delay_s=0.02, chunk_size_bytes=64 * 1024) as origin:
        start_download(agent, "d1", origin, small_pool)
        for _ in range(200):  # bounded: until the transfer is under way
            if status(agent, "d1").bytes_done > 0:
                break
            time.sleep(0.02)
        assert status(agent, "d1").state is CommandState.RUNNING
        (small_pool / "vol-other").write_bytes(bytes(4 * MIB))
        error = failure(agent, "d1")

    assert error.code == "pool_full"
    assert "ran out of space" in error.message and str(small_pool) in error.message
    assert_pool_clean(small_pool, "vol-other")
