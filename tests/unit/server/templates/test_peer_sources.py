"""plan_peers: which hosts of the zone a download may take a verified copy from, in order."""

import dataclasses

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.templates.peer_sources import MB, CopyHolder, PeerPolicy, plan_peers

CHECKSUM = "{SHA-256}" + "ab" * 32
POLICY = PeerPolicy(enabled=True, max_sources=3, max_rate_mb=50, max_uploads=2)


def holder(host_id: int, **changes: object) -> CopyHolder:
    base = CopyHolder(
        host_id=host_id,
        host_uuid=f"host-{host_id}",
        host_url=f"https://127.0.0.{host_id}:8252",
        host_up=True,
        zone_id=1,
        pool_id=100 + host_id,
        pool=msg.PoolSpec(uuid=f"pool-{host_id}", type=msg.PoolType.FILESYSTEM, path="/p"),
        install_name=f"copy-{host_id}",
        size_bytes=1024,
        ready=True,
        image_checksum=CHECKSUM,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def plan(holders: list[CopyHolder], **changes: object) -> list[str]:
    args: dict[str, object] = {
        "checksum": CHECKSUM,
        "destination_type": msg.PoolType.FILESYSTEM,
        "zone_id": 1,
        "destination_pool_id": 1,
        "destination_pool_uuid": "dest",
        "holders": holders,
        "policy": POLICY,
        "now_s": 1000.0,
        "valid_s": 600.0,
    }
    args.update(changes)
    return [choice.host_uuid for choice in plan_peers(**args)]  # type: ignore[arg-type]


def test_ready_verified_copies_of_up_hosts_in_the_zone_are_peers() -> None:
    assert sorted(plan([holder(1), holder(2)])) == ["host-1", "host-2"]


def test_copies_that_cannot_serve_are_left_out() -> None:
    refused = [
        holder(1, host_up=False),
        holder(2, ready=False),
        holder(3, zone_id=2),
        holder(4, pool_id=1),  # the destination pool itself
        holder(5, image_checksum=None),  # decompressed on the way in
        holder(6, image_checksum="{SHA-256}" + "cd" * 32),  # the checksum changed since
        holder(7, pool=msg.PoolSpec(uuid="r", type=msg.PoolType.RBD, path="rbd")),
        holder(8, install_name=None),
        holder(9, size_bytes=0),
    ]
    assert plan(refused) == []


def test_no_peers_when_off_or_without_a_checksum() -> None:
    holders = [holder(1), holder(2)]
    assert plan(holders, policy=dataclasses.replace(POLICY, enabled=False)) == []
    assert plan(holders, policy=dataclasses.replace(POLICY, max_sources=0)) == []
    assert plan(holders, checksum=None) == []
    assert plan(holders, destination_type=msg.PoolType.RBD) == []


def test_at_most_max_sources_and_one_copy_per_host() -> None:
    holders = [holder(i) for i in range(1, 8)] + [holder(1, pool_id=200)]
    chosen = plan(holders)
    assert len(chosen) == 3
    assert len(set(chosen)) == 3


def test_the_order_differs_between_destinations_and_is_stable() -> None:
    holders = [holder(i) for i in range(1, 9)]
    firsts = {plan(holders, destination_pool_uuid=f"dest-{n}")[0] for n in range(20)}
    assert len(firsts) > 1
    assert plan(holders) == plan(list(reversed(holders)))


def test_the_grant_names_the_copy_the_caps_and_the_expiry() -> None:
    [choice] = plan_peers(
        checksum=CHECKSUM,
        destination_type=msg.PoolType.SHARED_MOUNT_POINT,
        zone_id=1,
        destination_pool_id=1,
        destination_pool_uuid="dest",
        holders=[holder(3)],
        policy=POLICY,
        now_s=1000.4,
        valid_s=600.0,
    )
    assert choice.url == "https://127.0.0.3:8252"
    assert choice.grant == msg.PeerGrant(
        pool=holder(3).pool,
        name="copy-3",
        size_bytes=1024,
        checksum=CHECKSUM,
        max_rate_bytes=50 * MB,
        max_uploads=2,
        expires_s=1600.0,
    )
