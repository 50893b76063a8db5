from contextlib import AbstractContextManager
from typing import Any

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import AgentEndpoint, FileStream, KeyOpeningAgentClient
from kvmcloud.server.sealing.box import (
    SecretBox,
    agent_key_context,
    new_key,
    new_key_id,
    pool_secret_context,
)

KEY = "AQBzUp9lAAAAABAA7g/x+Y3rGx1Jd0Rk2r+vYw=="


class Recorder:
    """The transport: remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def call(self, endpoint: AgentEndpoint, command: msg.Command, *, timeout_s: float) -> Any:
        self.sent.append((endpoint, command))
        return msg.Answer(ok=True)

    def run(self, endpoint: AgentEndpoint, command_id: str, command: msg.Command, **_: Any) -> Any:
        self.sent.append((endpoint, command))
        return msg.Answer(ok=True)

    def read_pool_file(
        self, endpoint: AgentEndpoint, request: msg.ReadPoolFileRequest, *, byte_range: str | None
    ) -> AbstractContextManager[FileStream]:
        self.sent.append((endpoint, request))
        raise NotImplementedError


def test_rbd_pool_keys_stay_sealed_until_the_transport() -> None:
    key_id = new_key_id()
    box = SecretBox({key_id: new_key()}, key_id)
    sealed = box.seal(KEY, pool_secret_context("p-1"))
    pool = msg.PoolSpec(
        uuid="p-1", type=msg.PoolType.RBD, path="cloud", server="m:6789", user="u", secret=sealed
    )
    endpoint = AgentEndpoint(
        url="https://a", key=box.seal("agent", agent_key_context("h")), name="h",
        key_context=agent_key_context("h"),
    )  # fmt: skip
    inner = Recorder()
    client = KeyOpeningAgentClient(inner, box)  # type: ignore[arg-type]
    start = msg.StartVmCommand(
        spec=msg.VmSpec(
            name="i-2-7-VM",
            uuid="u",
            vcpus=1,
            memory_mib=64,
            disks=[msg.DiskSpec(path="ROOT-7", format="raw", pool=pool)],
        )
    )
    client.call(endpoint, msg.CheckPoolCommand(pool=pool), timeout_s=1)
    client.run(endpoint, "c", start, deadline_s=1, on_progress=lambda d, t: None)
    check, started = inner.sent[0][1], inner.sent[1][1]
    assert check.pool.secret == KEY
    assert started.spec.disks[0].pool.secret == KEY
    assert inner.sent[0][0].key == "agent"
    # What the caller built (and may log or keep) still holds the sealed value only.
    assert pool.secret == sealed and KEY not in repr(start)
