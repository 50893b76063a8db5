import json

from kvmcloud.protocol.agent_messages import (
    Heartbeat,
    PoolInventory,
    from_json,
    to_json,
)
from tests.support.agent_harness import HOST_REPORT


def test_a_heartbeat_from_an_older_agent_has_an_empty_inventory():
    old = json.loads(to_json(Heartbeat(host_uuid="h1", report=HOST_REPORT)))
    del old["pool_inventory"]

    assert from_json(Heartbeat, json.dumps(old)).pool_inventory == []


def test_an_inventory_round_trips_and_an_older_server_can_ignore_it():
    beat = Heartbeat(
        host_uuid="h1",
        report=HOST_REPORT,
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
    assert set(plain) - {"pool_inventory"} == {
        "host_uuid",
        "report",
        "shutting_down",
        "vm_states",
        "certificates",
    }
