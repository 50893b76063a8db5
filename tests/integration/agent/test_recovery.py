"""Agent killed mid-download: on restart only its own partial files go, heartbeats list pools."""

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from kvmcloud.agent.pools import PARTIAL_DIR_NAME
from kvmcloud.protocol.agent_messages import (
    CheckPoolCommand,
    CommandEnvelope,
    CommandState,
    CommandStatus,
    CreateVolumeCommand,
    DirectDownloadCommand,
    PoolSpec,
    PoolType,
    Timeouts,
    command_to_json,
    from_json,
)
from tests.integration.agent.conftest import Image, pool_files
from tests.support.agent_harness import HeartbeatRecorder, enrol, make_client
from tests.support.egress import LOOPBACK_RULES
from tests.support.heartbeat_server import HeartbeatServer
from tests.support.origin import Origin
from tests.support.processes import ManagedProcess, free_port, start_agent
from tests.support.trust import TestTrust, agent_token
from tests.support.waiting import wait_until

pytestmark = pytest.mark.allow_commands("qemu-img")

TOKEN = "enrol-token-for-recovery-tests"
KEY = "host-key-recovery"
OTHER_HOST_PARTIAL = "t1.raw.fedcba9876543210-" + "c" * 32 + ".part"
UNTAGGED_PARTIAL = "t1.raw." + "d" * 32 + ".part"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def shared_pool(path: Path, uuid: str = "pool-shared") -> PoolSpec:
    return PoolSpec(uuid=uuid, type=PoolType.SHARED_MOUNT_POINT, path=str(path))


def raw_download(origin: Origin, pool: Path) -> DirectDownloadCommand:
    return DirectDownloadCommand(
        egress=LOOPBACK_RULES,
        template_uuid="t1",
        url=origin.url("/t.raw"),
        format="RAW",
        pool=shared_pool(pool),
        install_name="t1.raw",
        timeouts=Timeouts(connect_s=2, read_s=5, total_s=60),
    )


def without_usage(inventory: list[dict[str, Any]], pool: Path) -> list[dict[str, Any]]:
    """Check each entry's capacity and free bytes against the pool's file system; drop them.

    The figures move with everything else written to the disk, so they are compared with
    ``os.statvfs`` for plausibility, and the rest of the entry exactly.
    """
    stats = os.statvfs(pool)
    capacity = stats.f_blocks * stats.f_frsize
    entries = []
    for entry in inventory:
        rest = dict(entry)
        assert rest.pop("capacity_bytes") == capacity
        assert 0 < rest.pop("available_bytes") <= capacity
        entries.append(rest)
    return entries


def wait_until_done(
    http: httpx.Client, base_url: str, command_id: str, timeout_s: float = 30
) -> CommandStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = http.get(
            f"{base_url}/commands/{command_id}", params={"wait_s": 5}, headers=auth(), timeout=10
        )
        status = from_json(CommandStatus, response.content)
        if status.state is CommandState.DONE:
            return status
    raise AssertionError(f"command {command_id} not done within {timeout_s} s")


def test_killed_agent_removes_only_its_own_partials_on_restart_and_reports_the_pool(
    tmp_path: Path, heartbeat_server: HeartbeatServer, pool_dir: Path, trust: TestTrust
) -> None:
    state_dir = tmp_path / "state"
    log = tmp_path / "agent.log"
    image = b"\xfa\x31\xc0" + os.urandom(4 * 1024 * 1024 - 3)
    with Origin(files={"/t.raw": image}, delay_s=0.05, chunk_size_bytes=16 * 1024) as origin:
        port = free_port()
        base_url = f"https://127.0.0.1:{port}"
        agent: ManagedProcess | None = start_agent(port, state_dir, log)
        http = trust.client(timeout=30)
        try:
            assert agent is not None
            trust.enrol(base_url, agent_token(state_dir), key=KEY, server_url=heartbeat_server.url)
            body = command_to_json(CommandEnvelope(id="d1", command=raw_download(origin, pool_dir)))
            response = http.post(f"{base_url}/commands", content=body, headers=auth())
            assert response.status_code == 202, response.text
            # Bounded wait until the transfer is writing (the origin sends ~320 KiB/s).
            partial_dir = pool_dir / PARTIAL_DIR_NAME
            wait_until(
                lambda: any(p.stat().st_size > 0 for p in partial_dir.glob("*.part")),
                timeout_s=5,
                interval_s=0.05,
            )
            (partial,) = partial_dir.glob("*.part")
            tag = (state_dir / "host-tag").read_text().strip()
            assert re.fullmatch(rf"t1\.raw\.{tag}-[0-9a-f]{{32}}\.part", partial.name)
            # Another host's transfer on the shared pool, and one from an older agent.
            (partial_dir / OTHER_HOST_PARTIAL).write_bytes(b"another host is writing this")
            (partial_dir / UNTAGGED_PARTIAL).write_bytes(b"whose? nobody can tell")

            agent.stop(signal.SIGKILL)
            assert partial.exists()  # killed: nothing cleaned up

            agent = start_agent(port, state_dir, log)
            assert not partial.exists()
            assert sorted(p.name for p in partial_dir.iterdir()) == sorted(
                [OTHER_HOST_PARTIAL, UNTAGGED_PARTIAL]
            )
            assert f"removed stale partial file {partial}" in log.read_text()
            # Its first heartbeat (enrolment survived the kill) lists the pool.
            assert without_usage(heartbeat_server.next_inventory(10), pool_dir) == [
                {
                    "uuid": "pool-shared",
                    "path": str(pool_dir),
                    "files": [],
                    "truncated": False,
                    "stale_partials_removed": 1,
                }
            ]

            # The download tried again (here by the same host) completes.
            origin.delay_s = 0
            body = command_to_json(CommandEnvelope(id="d2", command=raw_download(origin, pool_dir)))
            assert http.post(f"{base_url}/commands", content=body, headers=auth()).is_success
            status = wait_until_done(http, base_url, "d2")
            assert status.answer is not None and status.answer.ok, status.answer
        finally:
            http.close()
            if agent is not None:
                agent.stop()

    assert (pool_dir / "t1.raw").read_bytes() == image
    # Only verified files, and the other host's partial that this agent must not touch.
    assert pool_files(pool_dir) == sorted(
        [
            f"{PARTIAL_DIR_NAME}/{OTHER_HOST_PARTIAL}",
            f"{PARTIAL_DIR_NAME}/{UNTAGGED_PARTIAL}",
            "t1.raw",
        ]
    )


def run(client: TestClient, command_id: str, command: Any) -> CommandStatus:
    response = client.post(
        "/commands",
        content=command_to_json(CommandEnvelope(id=command_id, command=command)),
        headers=auth(),
    )
    status = from_json(CommandStatus, response.content)
    if status.state is CommandState.RUNNING:
        response = client.get(f"/commands/{command_id}", params={"wait_s": 30}, headers=auth())
        status = from_json(CommandStatus, response.content)
    assert status.state is CommandState.DONE
    return status


def test_heartbeat_inventory_lists_published_files_of_remembered_pools(
    tmp_path: Path, origin: Origin, qcow2_image: Image
) -> None:
    state_dir = tmp_path / "state"
    pool = tmp_path / "pool"
    checked_only = tmp_path / "checked-only"
    pool.mkdir()
    checked_only.mkdir()
    origin.files["/t.qcow2"] = qcow2_image.data
    recorder = HeartbeatRecorder()
    with make_client(state_dir, recorder, token=TOKEN) as client:
        response = enrol(client, token=TOKEN, key=KEY)
        assert response.status_code == 200
        download = DirectDownloadCommand(
            egress=LOOPBACK_RULES,
            template_uuid="t1",
            url=origin.url("/t.qcow2"),
            format="QCOW2",
            pool=shared_pool(pool, "p1"),
            install_name="t1.qcow2",
            timeouts=Timeouts(connect_s=2, read_s=2, total_s=30),
        )
        assert run(client, "d1", download).answer.ok  # type: ignore[union-attr]
        volume = CreateVolumeCommand(
            pool=shared_pool(pool, "p1"),
            name="vol-1",
            backing_name="t1.qcow2",
            backing_format="qcow2",
        )
        assert run(client, "v1", volume).answer.ok  # type: ignore[union-attr]
        check = CheckPoolCommand(pool=shared_pool(checked_only, "p2"))
        assert run(client, "c1", check).answer.ok  # type: ignore[union-attr]
    saved = json.loads((state_dir / "pools.json").read_text())
    assert [p["uuid"] for p in saved] == ["p1", "p2"]

    recorder.beats.clear()
    with make_client(state_dir, recorder, token=TOKEN) as client:
        assert recorder.wait_for(2)
    first, second = recorder.beats[:2]
    # p2 was only checked: no partial directory, so it is not listed (it could be an
    # unmounted mount point, whose emptiness would wrongly say every file is gone).
    assert without_usage(first["pool_inventory"], pool) == [
        {
            "uuid": "p1",
            "path": str(pool),
            "files": ["t1.qcow2", "vol-1"],
            "truncated": False,
            "stale_partials_removed": 0,
        }
    ]
    assert second["pool_inventory"] == []  # not at every beat
    assert pool_files(pool) == ["t1.qcow2", "vol-1"]
