"""Heartbeats over a kept-alive connection: one handshake, not one per beat, and no failed beat.

Real server and agent processes on SQLite. The agent's connections to the server's agent
listener are read with ``ss`` (local port, bytes received): a beat is an answer received
on the connection, a handshake a new local port.
"""

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cs import CloudStack

from tests.support.processes import (
    ManagedProcess,
    free_port,
    init_server,
    start_agent,
    start_server,
)
from tests.support.trust import agent_token
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAILED = "heartbeat failed"
RECEIVED = re.compile(r"\bbytes_received:(\d+)")


@dataclass
class Beats:
    api: CloudStack
    server: ManagedProcess
    agent: ManagedProcess
    agents_port: int
    host_id: str
    workdir: Path


def connections(agents_port: int) -> dict[int, int]:
    """The established connections to the agent listener: local port → bytes received."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", "dst", f"127.0.0.1:{agents_port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    found: dict[int, int] = {}
    port: int | None = None
    for line in out.splitlines():
        if line and not line[0].isspace():
            port = int(line.split()[-2].rpartition(":")[2])
            found[port] = 0
        elif port is not None and (match := RECEIVED.search(line)):
            found[port] = int(match.group(1))
    return found


def received(agents_port: int) -> int:
    return sum(connections(agents_port).values())


def failed_beats(agent: ManagedProcess) -> list[str]:
    return [line for line in agent.log_path.read_text().splitlines() if FAILED in line]


@pytest.fixture
def beats(tmp_path: Path) -> Iterator[Beats]:
    url = f"sqlite:///{tmp_path}/kvmcloud.db"
    config_dir = tmp_path / "server-config"
    keys = init_server(url, tmp_path / "init.log", config_dir)
    port = free_port()
    server = start_server(url, port, tmp_path / "server.log", config_dir)
    agent_port = free_port()
    # libvirt's test driver: the host's VMs are not this test's business.
    agent = start_agent(
        agent_port,
        tmp_path / "agent-state",
        tmp_path / "agent.log",
        {"KVMCLOUD_AGENT_LIBVIRT_URI": "test:///default"},
    )
    running = [server, agent]
    try:
        api = CloudStack(
            endpoint=f"http://127.0.0.1:{port}/client/api",
            key=keys.api_key,
            secret=keys.secret_key,
        )
        api.updateConfiguration(name="ping.interval", value="2")
        zone = api.createZone(name="z", networktype="Advanced", dns1="127.0.0.53")["zone"]
        pod = api.createPod(name="p", zoneid=zone["id"])["pod"]
        cluster = api.addCluster(
            clustername="c", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
        )["cluster"][0]
        host = api.addHost(
            zoneid=zone["id"],
            podid=pod["id"],
            clusterid=cluster["id"],
            hypervisor="KVM",
            url=f"http://127.0.0.1:{agent_port}",
            username="root",
            password=agent_token(tmp_path / "agent-state"),
        )["host"][0]
        yield Beats(
            api, server, agent, int(server.env["KVMCLOUD_AGENTS_PORT"]), host["id"], tmp_path
        )
    finally:
        for process in running:
            process.stop()


def restart(beats: Beats, **env: str) -> ManagedProcess:
    """Stop the server by its PID and start it again on the same ports and database."""
    began = time.monotonic()
    # At once, though the agent's connection is idle (it was SIGKILLed after 15 s when the
    # server waited for the agent's TLS close_notify).
    assert beats.server.stop() == -signal.SIGTERM  # exited by itself, not SIGKILLed
    assert time.monotonic() - began < 10
    server = ManagedProcess(
        "kvmcloud-server",
        [sys.executable, "-m", "kvmcloud.server", "serve"],
        beats.server.env | env,
        beats.workdir / "server2.log",
    )
    server.start().wait_http(beats.api.endpoint)
    server.wait_port(beats.agents_port)
    return server


def test_beats_reuse_one_connection_and_survive_restarts_and_idle_closes(beats: Beats) -> None:
    # The first beats went out every 10 s (the agent's first interval) then every 2 s.
    assert wait_until(
        lambda: len(connections(beats.agents_port)) == 1, timeout_s=30, interval_s=0.5
    )
    first = connections(beats.agents_port)
    before = received(beats.agents_port)
    assert wait_until(
        lambda: received(beats.agents_port) > before + 3 * 100, timeout_s=30, interval_s=0.5
    ), "four beats answered"
    assert connections(beats.agents_port).keys() == first.keys(), "one connection, one handshake"

    # A restart between two beats: the old connection is closed by the stopping server, and
    # the next beat takes a new one without failing.
    beats.api.updateConfiguration(name="ping.interval", value="20")
    time.sleep(3)  # the agent hears of the new interval in the next answer
    answered = received(beats.agents_port)
    assert wait_until(
        lambda: received(beats.agents_port) > answered, timeout_s=30, interval_s=0.2
    ), "a beat at the new interval"
    # Also close idle connections after 5 s, so every later beat finds its connection gone.
    beats.server = server = restart(beats, KVMCLOUD_AGENTS_KEEPALIVE_S="5")
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 55  # two beats or more at 20 s
        while time.monotonic() < deadline:
            seen.update(connections(beats.agents_port))
            time.sleep(0.5)
        assert len(seen - first.keys()) >= 2, "a new connection for each beat after the restart"
        assert failed_beats(beats.agent) == []
        host = beats.api.listHosts(id=beats.host_id)["host"][0]
        assert host["state"] == "Up"
    finally:
        server.stop()
