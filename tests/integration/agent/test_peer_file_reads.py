"""POST /peer-files/read: only what a grant signed with this host's key names, paced."""

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from kvmcloud.protocol.agent_messages import (
    CheckPoolCommand,
    CommandEnvelope,
    PeerGrant,
    PoolSpec,
    PoolType,
    command_to_json,
    to_json,
)
from kvmcloud.protocol.peer_grants import sign_grant
from tests.support import agent_harness
from tests.support.agent_harness import HeartbeatRecorder

TOKEN = "enrol-token-for-tests"
KEY = "host-key-1"
DATA = bytes(range(256)) * 4096  # 1 MiB
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool"
    path.mkdir()
    (path / "copy").write_bytes(DATA)
    (path / "vm-disk").write_bytes(b"secret" * 100)
    return path


@pytest.fixture
def agent(tmp_path: Path, pool: Path) -> Iterator[TestClient]:
    client = agent_harness.make_client(tmp_path / "state", HeartbeatRecorder(), token=TOKEN)
    with client:
        agent_harness.enrol(client, token=TOKEN, key=KEY)
        envelope = CommandEnvelope(id="c1", command=CheckPoolCommand(pool=spec(pool)))
        response = client.post("/commands", content=command_to_json(envelope), headers=AUTH)
        assert response.status_code == 200
        yield client


def spec(pool: Path) -> PoolSpec:
    return PoolSpec(uuid="p1", type=PoolType.FILESYSTEM, path=str(pool))


def grant(pool_dir: Path, **changes: object) -> PeerGrant:
    base = PeerGrant(
        pool=spec(pool_dir),
        name="copy",
        size_bytes=len(DATA),
        checksum="{SHA-256}" + "00" * 32,
        max_rate_bytes=0,
        max_uploads=2,
        expires_s=time.time() + 60,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_signed_grant_reads_the_copy_whole_or_from_an_offset(
    agent: TestClient, pool: Path
) -> None:
    signed = sign_grant(grant(pool), KEY)
    whole = agent.post("/peer-files/read", content=to_json(signed))
    assert whole.status_code == 200 and whole.content == DATA
    tail = agent.post("/peer-files/read", content=to_json(signed), headers={"Range": "bytes=1000-"})
    assert tail.status_code == 206 and tail.content == DATA[1000:]


def test_unsigned_altered_or_expired_grants_are_refused(agent: TestClient, pool: Path) -> None:
    refused = [
        grant(pool),  # not signed
        sign_grant(grant(pool), "another-hosts-key"),
        dataclasses.replace(sign_grant(grant(pool), KEY), name="vm-disk", size_bytes=600),
        sign_grant(grant(pool, expires_s=time.time() - 1), KEY),
    ]
    for body in refused:
        response = agent.post("/peer-files/read", content=to_json(body))
        assert response.status_code == 403, response.text


def test_only_the_granted_file_of_its_size_in_a_known_pool(
    agent: TestClient, pool: Path, tmp_path: Path
) -> None:
    wrong_size = sign_grant(grant(pool, size_bytes=len(DATA) - 1), KEY)
    assert agent.post("/peer-files/read", content=to_json(wrong_size)).status_code == 404
    other = tmp_path / "other"
    other.mkdir()
    (other / "copy").write_bytes(DATA)
    unknown_pool = sign_grant(
        grant(pool, pool=PoolSpec(uuid="p9", type=PoolType.FILESYSTEM, path=str(other))), KEY
    )
    assert agent.post("/peer-files/read", content=to_json(unknown_pool)).status_code == 404


def test_the_rate_cap_paces_the_stream(agent: TestClient, pool: Path) -> None:
    signed = sign_grant(grant(pool, max_rate_bytes=len(DATA) * 2), KEY)
    started = time.monotonic()
    response = agent.post("/peer-files/read", content=to_json(signed))
    elapsed = time.monotonic() - started
    assert response.content == DATA
    # Two chunks of 1 MiB at 2 MiB/s would take 0.5 s; one chunk of 1 MiB: 0.5 s after it.
    assert elapsed >= 0.4
