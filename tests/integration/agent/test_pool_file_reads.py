"""POST /pool-files/read: only a remembered pool's regular file of the recorded size, ranges."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kvmcloud.protocol.agent_messages import (
    CheckPoolCommand,
    CommandEnvelope,
    PoolSpec,
    PoolType,
    ReadPoolFileRequest,
    command_to_json,
    to_json,
)
from tests.support import agent_harness
from tests.support.agent_harness import HeartbeatRecorder

TOKEN = "enrol-token-for-tests"
KEY = "host-key-1"
DATA = bytes(range(256)) * 8
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool"
    path.mkdir()
    (path / "t1.qcow2").write_bytes(DATA)
    return path


@pytest.fixture
def agent(tmp_path: Path, pool: Path) -> Iterator[TestClient]:
    client = agent_harness.make_client(tmp_path / "state", HeartbeatRecorder(), token=TOKEN)
    with client:
        agent_harness.enrol(client, token=TOKEN, key=KEY)
        # A command naming the pool makes it one this agent uses.
        envelope = CommandEnvelope(id="c1", command=CheckPoolCommand(pool=spec(pool)))
        response = client.post("/commands", content=command_to_json(envelope), headers=AUTH)
        assert response.status_code == 200
        yield client


def spec(pool: Path, uuid: str = "p1") -> PoolSpec:
    return PoolSpec(uuid=uuid, type=PoolType.FILESYSTEM, path=str(pool))


def read(
    client: TestClient,
    pool_spec: PoolSpec,
    name: str = "t1.qcow2",
    size: int = len(DATA),
    headers: dict[str, str] | None = None,
) -> Any:
    request = ReadPoolFileRequest(pool=pool_spec, name=name, size_bytes=size)
    return client.post("/pool-files/read", content=to_json(request), headers=headers or AUTH)


def test_the_whole_file_is_streamed_with_its_length(agent: TestClient, pool: Path) -> None:
    response = read(agent, spec(pool))
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))


def test_one_range_is_honoured(agent: TestClient, pool: Path) -> None:
    response = read(agent, spec(pool), headers={**AUTH, "Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == DATA[10:20]
    assert response.headers["content-range"] == f"bytes 10-19/{len(DATA)}"
    past = read(agent, spec(pool), headers={**AUTH, "Range": f"bytes={len(DATA)}-"})
    assert past.status_code == 416


def test_it_needs_the_host_key(agent: TestClient, pool: Path) -> None:
    response = read(agent, spec(pool), headers={"Authorization": "Bearer guess"})
    assert response.status_code == 401


def test_only_what_the_server_recorded_is_served(
    agent: TestClient, pool: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "t1.qcow2").write_bytes(DATA)
    (pool / "link.qcow2").symlink_to(elsewhere / "t1.qcow2")
    (pool / "subdir").mkdir()
    refused = {
        "another size": read(agent, spec(pool), size=len(DATA) - 1),
        "a pool never used": read(agent, spec(elsewhere)),
        "a used pool's uuid on another path": read(agent, spec(elsewhere, uuid="p1")),
        "a link": read(agent, spec(pool), name="link.qcow2"),
        "a directory": read(agent, spec(pool), name="subdir", size=0),
        "a missing file": read(agent, spec(pool), name="nope.qcow2"),
    }
    assert {why: r.status_code for why, r in refused.items()} == {why: 404 for why in refused}
    for name in ("../pool/t1.qcow2", ".kvmcloud-partial", "a/b"):
        assert read(agent, spec(pool), name=name).status_code == 400
