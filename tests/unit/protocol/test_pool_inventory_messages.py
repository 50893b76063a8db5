import json

from kvmcloud.protocol.agent_messages import (
    Heartbeat,
    HostReport,
    PoolInventory,
    from_json,
    to_json,
)

REPORT = HostReport(
    hostname="kvm1",
    agent_version="0.1.0",
    cpu_count=2,
    cpu_mhz=2400,
    memory_bytes=2**33,
    hypervisor_version="7.2.22",
    kvm_available=True,
)


def test_a_heartbeat_from_an_older_agent_has_an_empty_inventory():
    old = json.loads(to_json(Heartbeat(host_uuid="h1", report=REPORT)))
    del old["pool_inventory"]

    assert from_json(Heartbeat, json.dumps(old)).pool_inventory == []


def test_an_inventory_round_trips_and_an_older_server_can_ignore_it():
    beat = Heartbeat(
        host_uuid="h1",
        report=REPORT,
        pool_inventory=[
            PoolInventory(uuid="p1", path="/pool", files=["a", "b"], truncated=True),
            PoolInventory(uuid="p2", path="/other"),
        ],
    )

    decoded = from_json(Heartbeat, to_json(beat))

    assert decoded == beat
    assert decoded.pool_inventory[1].files == [] and decoded.pool_inventory[1].truncated is False
    # Decoding skips fields the class does not have: what an older server does with this one.
    plain = json.loads(to_json(beat))
    assert set(plain) - {"pool_inventory", "pool_health"} == {
        "host_uuid",
        "report",
        "shutting_down",
        "vm_states",
        "certificates",
    }
