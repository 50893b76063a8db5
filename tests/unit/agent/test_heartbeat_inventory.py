import json
import threading
import time
from typing import Any

import httpx
import pytest

from kvmcloud.agent.enrollment import Enrollment
from kvmcloud.agent.heartbeat import INVENTORY_INTERVAL_S, HeartbeatError, HeartbeatLoop
from kvmcloud.protocol.agent_messages import HostReport, PoolInventory

REPORT = HostReport(
    hostname="kvm1",
    agent_version="0.1.0",
    cpu_count=2,
    cpu_mhz=2400,
    memory_bytes=2**33,
    hypervisor_version="7.2.22",
    kvm_available=True,
)
ENROLLMENT = Enrollment(host_uuid="h1", host_key="key-1", server_url="http://mgmt.test")
INVENTORY = [PoolInventory(uuid="p1", path="/pool", files=["t1"], stale_partials_removed=2)]


class Server:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(self.status, json={"interval_s": 10})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_loop(server: Server, clock: Clock, listed: list[int]) -> HeartbeatLoop:
    def inventory() -> list[PoolInventory]:
        listed.append(1)
        return INVENTORY

    return HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=httpx.Client(transport=httpx.MockTransport(server.handle)),
        report=lambda: REPORT,
        pool_inventory=inventory,
        clock=clock,
    )


def test_inventory_goes_in_the_first_beat_then_every_interval():
    server, clock, listed = Server(), Clock(), []
    loop = make_loop(server, clock, listed)

    loop.send()
    clock.now += INVENTORY_INTERVAL_S - 1
    loop.send()
    clock.now += 1
    loop.send()

    inventories = [body["pool_inventory"] for body in server.bodies]
    assert inventories[0] == [
        {
            "uuid": "p1",
            "path": "/pool",
            "files": ["t1"],
            "truncated": False,
            "stale_partials_removed": 2,
        }
    ]
    assert inventories[1] == []
    assert inventories[2] == inventories[0]
    assert len(listed) == 2  # the pools are only listed when the inventory is due


def test_a_refused_inventory_is_sent_again_and_the_goodbye_carries_none():
    server, clock, listed = Server(), Clock(), []
    loop = make_loop(server, clock, listed)
    server.status = 503

    with pytest.raises(HeartbeatError):
        loop.send()
    server.status = 200
    loop.send()
    loop.send(shutting_down=True)

    assert [len(body["pool_inventory"]) for body in server.bodies] == [1, 1, 0]


def test_a_hung_pool_listing_delays_the_inventory_never_the_heartbeat():
    server, clock = Server(), Clock()
    release = threading.Event()
    calls: list[int] = []

    def hung_inventory() -> list[PoolInventory]:
        calls.append(1)
        release.wait(10)
        return INVENTORY

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=httpx.Client(transport=httpx.MockTransport(server.handle)),
        report=lambda: REPORT,
        pool_inventory=hung_inventory,
        inventory_timeout_s=0.05,
        clock=clock,
    )

    loop.send()
    loop.send()  # the first listing is still stuck: no second one is started
    release.set()
    for _ in range(100):  # bounded: until the stuck listing has ended
        if loop._inventory_thread is None or not loop._inventory_thread.is_alive():
            break
        time.sleep(0.01)
    loop.send()

    assert [len(body["pool_inventory"]) for body in server.bodies] == [0, 0, 1]
    assert len(calls) == 2
