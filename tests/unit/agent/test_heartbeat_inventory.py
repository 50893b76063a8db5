import threading

import pytest

from kvmcloud.agent.enrollment import Enrollment
from kvmcloud.agent.heartbeat import INVENTORY_INTERVAL_S, HeartbeatError, HeartbeatLoop
from kvmcloud.protocol.agent_messages import PoolHealth, PoolInventory
from tests.support.agent_harness import HOST_REPORT, HeartbeatRecorder
from tests.support.waiting import wait_until

ENROLLMENT = Enrollment(host_uuid="h1", host_key="key-1", server_url="http://mgmt.test")
INVENTORY = [PoolInventory(uuid="p1", path="/pool", files=["t1"], stale_partials_removed=2)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_loop(server: HeartbeatRecorder, clock: Clock, listed: list[int]) -> HeartbeatLoop:
    def inventory() -> list[PoolInventory]:
        listed.append(1)
        return INVENTORY

    return HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=server.client(),
        report=lambda: HOST_REPORT,
        pool_inventory=inventory,
        clock=clock,
    )


def test_inventory_goes_in_the_first_beat_then_every_interval():
    server, clock, listed = HeartbeatRecorder(interval_s=10), Clock(), []
    loop = make_loop(server, clock, listed)

    loop.send()
    clock.now += INVENTORY_INTERVAL_S - 1
    loop.send()
    clock.now += 1
    loop.send()

    inventories = [body["pool_inventory"] for body in server.beats]
    assert inventories[0] == [
        {
            "uuid": "p1",
            "path": "/pool",
            "files": ["t1"],
            "truncated": False,
            "stale_partials_removed": 2,
            "capacity_bytes": None,
            "available_bytes": None,
        }
    ]
    assert inventories[1] == []
    assert inventories[2] == inventories[0]
    assert len(listed) == 2  # the pools are only listed when the inventory is due


def test_a_refused_inventory_is_sent_again_and_the_goodbye_carries_none():
    server, clock, listed = HeartbeatRecorder(interval_s=10), Clock(), []
    loop = make_loop(server, clock, listed)
    server.status = 503

    with pytest.raises(HeartbeatError):
        loop.send()
    server.status = 200
    loop.send()
    loop.send(shutting_down=True)

    assert [len(body["pool_inventory"]) for body in server.beats] == [1, 1, 0]


def test_a_hung_pool_listing_delays_the_inventory_never_the_heartbeat():
    server, clock = HeartbeatRecorder(interval_s=10), Clock()
    release = threading.Event()
    calls: list[int] = []

    def hung_inventory() -> list[PoolInventory]:
        calls.append(1)
        release.wait(10)
        return INVENTORY

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=server.client(),
        report=lambda: HOST_REPORT,
        pool_inventory=hung_inventory,
        inventory_timeout_s=0.05,
        clock=clock,
    )

    loop.send()
    loop.send()  # the first listing is still stuck: no second one is started
    release.set()
    # Bounded: until the stuck listing has ended.
    wait_until(
        lambda: loop._inventory_thread is None or not loop._inventory_thread.is_alive(),
        timeout_s=1,
        interval_s=0.01,
    )
    loop.send()

    assert [len(body["pool_inventory"]) for body in server.beats] == [0, 0, 1]
    assert len(calls) == 2


def test_pool_checks_go_with_the_beat_after_they_end_and_never_hold_it():
    server, clock = HeartbeatRecorder(interval_s=10), Clock()
    release = threading.Event()
    checks: list[int] = []

    def hung_check() -> list[PoolHealth]:
        checks.append(1)
        release.wait(10)
        return [PoolHealth(uuid="p1", problem="server down", access="userspace")]

    loop = HeartbeatLoop(
        enrollment=ENROLLMENT,
        client=server.client(),
        report=lambda: HOST_REPORT,
        pool_health=hung_check,
        pool_check_interval_s=30,
        clock=clock,
    )

    loop.send()  # starts the check, sends nothing about pools
    clock.now += 60
    loop.send()  # the check is stuck: no second one starts, the beat still goes
    release.set()
    wait_until(
        lambda: loop._pool_check_thread is not None and not loop._pool_check_thread.is_alive(),
        timeout_s=1,
        interval_s=0.01,
    )
    loop.send()
    loop.send()  # taken once: the next beats say nothing until the next check ends

    healths = [body["pool_health"] for body in server.beats]
    assert healths[:2] == [[], []]
    assert healths[2] == [{"uuid": "p1", "problem": "server down", "access": "userspace"}]
    assert len(checks) == 2  # the third beat, due again, started the next one
