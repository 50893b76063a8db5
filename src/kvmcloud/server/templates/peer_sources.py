"""Peer sources (pure): which hosts of the zone a download may take a verified copy from.

The server decides who may serve whom; hosts decide only how to move bytes (they try the
sources in the order given, verify the whole-file digest and fall back to the next source).
A peer is an Up host of the destination pool's zone that downloaded a Ready copy of the
template onto another pool, whose verified digest is the template's checksum: the bytes on
that pool are the origin's bytes as they are. A template without a checksum, or whose copy
was decompressed on the way in, has no peers: the receiving host could not verify them.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from kvmcloud.protocol import agent_messages as msg

# Pools whose copies are files a peer's agent can open and seek in; an RBD image is not.
FILE_POOL_TYPES = frozenset(
    {msg.PoolType.FILESYSTEM, msg.PoolType.SHARED_MOUNT_POINT, msg.PoolType.NETWORK_FILESYSTEM}
)
MB = 1_000_000


@dataclass(frozen=True, slots=True)
class PeerPolicy:
    """The zone's peer settings (configuration keys kvmcloud.direct.download.peer*)."""

    enabled: bool
    max_sources: int
    max_rate_mb: int
    max_uploads: int


@dataclass(frozen=True, slots=True)
class CopyHolder:
    """A copy of the template on some pool, and the host that downloaded it."""

    host_id: int
    host_uuid: str
    host_url: str
    host_up: bool
    zone_id: int
    pool_id: int
    pool: msg.PoolSpec
    install_name: str | None
    size_bytes: int
    ready: bool
    image_checksum: str | None


@dataclass(frozen=True, slots=True)
class PeerChoice:
    """A peer to try: its host and the grant to sign with that host's key."""

    host_id: int
    host_uuid: str
    url: str
    grant: msg.PeerGrant


def plan_peers(
    *,
    checksum: str | None,
    destination_type: msg.PoolType,
    zone_id: int,
    destination_pool_id: int,
    destination_pool_uuid: str,
    holders: Iterable[CopyHolder],
    policy: PeerPolicy,
    now_s: float,
    valid_s: float,
) -> list[PeerChoice]:
    """Return the peers to try before the origin, in order; empty when peers are off.

    One copy per host (its first in ``holders``). The order is a hash of the destination
    pool and the host: every destination starts at a different peer, so the hosts that
    hold the template share the load instead of the first one serving the whole zone.
    Grants expire ``valid_s`` after ``now_s`` (the download's own deadline). An RBD
    destination has none: the agent streams into an RBD image from the origin only.
    """
    if not policy.enabled or policy.max_sources <= 0 or not checksum:
        return []
    if destination_type not in FILE_POOL_TYPES:
        return []
    chosen: dict[int, CopyHolder] = {}
    for holder in holders:
        if holder.host_id not in chosen and _may_serve(
            holder, checksum=checksum, zone_id=zone_id, destination_pool_id=destination_pool_id
        ):
            chosen[holder.host_id] = holder
    ordered = sorted(chosen.values(), key=lambda h: _spread(destination_pool_uuid, h.host_uuid))
    return [
        PeerChoice(
            host_id=holder.host_id,
            host_uuid=holder.host_uuid,
            url=holder.host_url,
            grant=msg.PeerGrant(
                pool=holder.pool,
                name=holder.install_name or "",
                size_bytes=holder.size_bytes,
                checksum=checksum,
                max_rate_bytes=policy.max_rate_mb * MB,
                max_uploads=policy.max_uploads,
                expires_s=float(int(now_s + valid_s)),
            ),
        )
        for holder in ordered[: policy.max_sources]
    ]


def _may_serve(
    holder: CopyHolder, *, checksum: str, zone_id: int, destination_pool_id: int
) -> bool:
    return (
        holder.host_up
        and holder.ready
        and holder.zone_id == zone_id
        and holder.pool_id != destination_pool_id
        and holder.pool.type in FILE_POOL_TYPES
        and bool(holder.install_name)
        and holder.size_bytes > 0
        and holder.image_checksum is not None
        and holder.image_checksum.lower() == checksum.lower()
    )


def _spread(destination_pool_uuid: str, host_uuid: str) -> str:
    return hashlib.sha256(f"{destination_pool_uuid}/{host_uuid}".encode()).hexdigest()
