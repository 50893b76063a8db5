"""choose_host_and_pool(): where a VM runs and which pool holds its root disk (pure)."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from kvmcloud.server.errors import InsufficientCapacityError
from kvmcloud.server.offerings.tags import has_all

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HostCandidate:
    """An Up KVM host with its capacity and what running VMs already use of it."""

    host_id: int
    name: str
    cluster_id: int
    cpus: int
    memory_bytes: int
    used_memory_bytes: int
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PoolCandidate:
    """An Up pool: who reaches it, how much room it has, whether the image is on it."""

    pool_id: int
    name: str
    scope: str  # "HOST", "CLUSTER" or "ZONE"
    cluster_id: int | None
    host_id: int | None
    available_bytes: int
    has_image: bool
    tags: frozenset[str] = frozenset()
    # RBD pools hold raw disk images only; an ISO goes to another pool the host reaches.
    holds_isos: bool = True


@dataclass(frozen=True, slots=True)
class Needs:
    """What a VM asks for."""

    cpus: int
    memory_bytes: int
    # Bytes the pool must have free: the image when it still has to be downloaded.
    download_bytes: int
    local_storage: bool
    host_id: int | None = None
    # The offering's tags: a host needs every host tag, the root disk's pool every storage tag.
    host_tags: frozenset[str] = frozenset()
    storage_tags: frozenset[str] = frozenset()
    # The pool of an existing root disk: the only one the disk can be on.
    disk_pool_id: int | None = None
    # Bytes an ISO the VM boots from or has inserted needs on a pool; None: no ISO.
    iso_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """The chosen host, the root disk's pool, and the pool of the VM's ISO (if any)."""

    host_id: int
    pool_id: int
    iso_pool_id: int | None = None


def reaches(host: HostCandidate, pool: PoolCandidate) -> bool:
    """Tell whether ``host`` can use ``pool`` by the pool's scope."""
    if pool.scope == "HOST":
        return pool.host_id == host.host_id
    if pool.scope == "CLUSTER":
        return pool.cluster_id == host.cluster_id
    return True


def choose_host_and_pool(
    hosts: Sequence[HostCandidate],
    pools: Sequence[PoolCandidate],
    needs: Needs,
    *,
    down_pools: Sequence[str] = (),
) -> Placement:
    """Pick a host with room and a pool it reaches that suits the offering's storage type.

    A host qualifies only with every host tag of the offering, a pool only with every
    storage tag (as CloudStack's allocators); an offering without tags takes any.

    Hosts with the most free memory come first; for a host, a pool that already holds the
    image wins (no download), then the one with the most free space. Ties go to the lowest id
    so the choice is repeatable.

    ``down_pools`` names the zone's pools that are Down (their hosts fail their check):
    never candidates, they are named when no pool fits.

    A VM with an ISO also needs a pool for it that its host reaches: the root disk's pool
    when it can hold ISOs, else the shared one (then a host-local one) with the most room.

    Raises:
        InsufficientCapacityError: saying which requirement nothing met.
    """
    eligible = [h for h in hosts if needs.host_id is None or h.host_id == needs.host_id]
    if not eligible:
        raise InsufficientCapacityError(
            "The requested host is not Up" if needs.host_id is not None else "No KVM host is Up"
        )
    tagged = [h for h in eligible if has_all(needs.host_tags, h.tags)]
    if not tagged:
        raise InsufficientCapacityError(
            f"No Up host has the host tags {_listed(needs.host_tags)} of this VM's offering"
            + _missing(needs.host_tags, [(h.name, h.tags) for h in eligible], "host")
        )
    roomy = [
        h
        for h in tagged
        if h.cpus >= needs.cpus and h.memory_bytes - h.used_memory_bytes >= needs.memory_bytes
    ]
    if not roomy:
        raise InsufficientCapacityError(
            f"No Up host has {needs.cpus} CPU(s) and {needs.memory_bytes // MIB} MiB of free "
            "memory for this VM"
        )
    wanted_scopes = ("HOST",) if needs.local_storage else ("CLUSTER", "ZONE")
    if needs.disk_pool_id is not None:
        # The disk exists: only its pool, whatever the offering's storage tags say now.
        suitable = [replace(p, has_image=True) for p in pools if p.pool_id == needs.disk_pool_id]
    else:
        suitable = [
            p
            for p in pools
            if p.scope in wanted_scopes
            and has_all(needs.storage_tags, p.tags)
            and (p.has_image or p.available_bytes >= needs.download_bytes)
        ]
    no_iso_pool = False
    for host in sorted(roomy, key=lambda h: (-(h.memory_bytes - h.used_memory_bytes), h.host_id)):
        usable = [p for p in suitable if reaches(host, p)]
        if not usable:
            continue
        best = min(usable, key=lambda p: (not p.has_image, -p.available_bytes, p.pool_id))
        if needs.iso_bytes is None:
            return Placement(host_id=host.host_id, pool_id=best.pool_id)
        iso_pool = iso_pool_for(host, best, pools, needs.iso_bytes)
        if iso_pool is not None:
            return Placement(host_id=host.host_id, pool_id=best.pool_id, iso_pool_id=iso_pool)
        no_iso_pool = True
    if no_iso_pool:
        raise InsufficientCapacityError(
            f"No storage pool with room for the ISO ({needs.iso_bytes} bytes) is reachable "
            "from a host that can run this VM: RBD pools hold disk images only, so an ISO "
            f"needs a NetworkFilesystem, SharedMountPoint or Filesystem pool{_down(down_pools)}"
        )
    kind = "host-local (storagetype=local)" if needs.local_storage else "shared"
    tagged_with = f" tagged {_listed(needs.storage_tags)}" if needs.storage_tags else ""
    scoped = [p for p in pools if p.scope in wanted_scopes]
    missing = ""
    if needs.storage_tags and not any(has_all(needs.storage_tags, p.tags) for p in scoped):
        missing = _missing(needs.storage_tags, [(p.name, p.tags) for p in scoped], "pool")
    raise InsufficientCapacityError(
        f"No {kind} storage pool{tagged_with} with room for the image is reachable from a "
        f"host that can run this VM{missing}{_down(down_pools)}"
    )


def iso_pool_for(
    host: HostCandidate, disk_pool: PoolCandidate, pools: Sequence[PoolCandidate], size: int
) -> int | None:
    """The pool for the VM's ISO on ``host``: the disk's pool if it can, else the roomiest."""
    if disk_pool.holds_isos:
        return disk_pool.pool_id
    fitting = [p for p in pools if p.holds_isos and p.available_bytes >= size and reaches(host, p)]
    if not fitting:
        return None
    # A shared pool first: an ISO on one host's disk would pin the VM to that host.
    return min(fitting, key=lambda p: (p.scope == "HOST", -p.available_bytes, p.pool_id)).pool_id


# How many hosts or pools a tag error names before it stops.
_NAMED = 5


def _missing(
    needed: frozenset[str], holders: Sequence[tuple[str, frozenset[str]]], kind: str
) -> str:
    """Say which tags are missing: those no host (pool) has, else what each one lacks."""
    absent = needed - frozenset().union(*(tags for _name, tags in holders))
    if absent:
        return f": no {kind} has the tag {_listed(absent)}"
    lacks = [f"{name} lacks {_listed(needed - tags)}" for name, tags in holders[:_NAMED]]
    more = f"; and {len(holders) - _NAMED} more" if len(holders) > _NAMED else ""
    return f": {'; '.join(lacks)}{more}"


def _down(names: Sequence[str]) -> str:
    if not names:
        return ""
    listed = ", ".join(sorted(names)[:_NAMED])
    return (
        f"; storage pool {listed} is Down: its hosts cannot reach its storage"
        if len(names) == 1
        else f"; storage pools {listed} are Down: their hosts cannot reach their storage"
    )


def _listed(tags: frozenset[str]) -> str:
    return ",".join(sorted(tags))
