"""Disk full on a real 8 MiB tmpfs pool: a clear pool_full error and nothing left behind."""

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kvmcloud.agent.pools import PARTIAL_DIR_NAME
from kvmcloud.protocol.agent_messages import (
    CommandEnvelope,
    CommandState,
    CommandStatus,
    DirectDownloadCommand,
    ErrorInfo,
    PoolSpec,
    PoolType,
    Timeouts,
    command_to_json,
    from_json,
)
from tests.integration.agent.conftest import pool_files
from tests.support.agent_harness import HeartbeatRecorder, enrol, make_client
from tests.support.egress import LOOPBACK_RULES
from tests.support.origin import Origin
from tests.support.tmpfs import tmpfs_or_skip
from tests.support.waiting import wait_until

pytestmark = pytest.mark.allow_commands("qemu-img")

MIB = 1024 * 1024
POOL_SIZE = 8 * MIB
TOKEN = "enrol-token-pool-full"
KEY = "host-key-pool-full"


@pytest.fixture
def small_pool(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs as the pool (skipped locally when mounting is refused; fails in CI)."""
    with tmpfs_or_skip(tmp_path / "tmpfs-pool", size_bytes=POOL_SIZE) as tmpfs:
        yield tmpfs.path


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[TestClient]:
    recorder = HeartbeatRecorder(interval_s=60)
    with make_client(
        tmp_path / "state", recorder, token=TOKEN, buffer_size_bytes=64 * 1024
    ) as client:
        response = enrol(client, token=TOKEN, key=KEY)
        assert response.status_code == 200
        yield client


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def start_download(client: TestClient, command_id: str, origin: Origin, pool: Path) -> None:
    command = DirectDownloadCommand(
        egress=LOOPBACK_RULES,
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
        # Bounded: until the transfer is under way.
        wait_until(lambda: status(agent, "d1").bytes_done > 0, timeout_s=4, interval_s=0.02)
        assert status(agent, "d1").state is CommandState.RUNNING
        (small_pool / "vol-other").write_bytes(bytes(4 * MIB))
        error = failure(agent, "d1")

    assert error.code == "pool_full"
    assert "ran out of space" in error.message and str(small_pool) in error.message
    assert_pool_clean(small_pool, "vol-other")
