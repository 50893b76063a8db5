"""Records: a zone's pod, cluster, host or pool row with the rows its response names."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kvmcloud.server.infrastructure.models import Cluster, Host, Pod, StoragePool, Zone
from kvmcloud.server.queries import rows_by_id


@dataclass(frozen=True, slots=True)
class PodRecord:
    """A pod and its zone."""

    pod: Pod
    zone: Zone


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    """A cluster, its zone and its pod."""

    cluster: Cluster
    zone: Zone
    pod: Pod


@dataclass(frozen=True, slots=True)
class HostRecord:
    """A host, its zone, pod and cluster."""

    host: Host
    zone: Zone
    pod: Pod
    cluster: Cluster


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """A storage pool, its zone, and its pod and cluster when its scope has them."""

    pool: StoragePool
    zone: Zone
    pod: Pod | None
    cluster: Cluster | None
    # The virtual sizes of its live volumes and template copies (disksizeallocated).
    allocated_bytes: int = 0


# What the pools given by id hold, in virtual bytes: the features that put volumes and
# template copies on pools are built on this one, so app.py passes the sum in (Hooks).
AllocatedBytes = Callable[[Session, Sequence[int]], dict[int, int]]


def pod_records(session: Session, pods: Sequence[Pod]) -> list[PodRecord]:
    """Build the records of a page of pods, loading their zones in one query."""
    zones = rows_by_id(session, Zone, (p.data_center_id for p in pods))
    return [PodRecord(pod=p, zone=zones[p.data_center_id]) for p in pods]


def cluster_records(session: Session, clusters: Sequence[Cluster]) -> list[ClusterRecord]:
    """Build the records of a page of clusters, loading their zones and pods in batches."""
    zones = rows_by_id(session, Zone, (c.data_center_id for c in clusters))
    pods = rows_by_id(session, Pod, (c.pod_id for c in clusters))
    return [
        ClusterRecord(cluster=c, zone=zones[c.data_center_id], pod=pods[c.pod_id]) for c in clusters
    ]


def host_records(session: Session, hosts: Sequence[Host]) -> list[HostRecord]:
    """Build the records of a page of hosts, loading their zones, pods, clusters in batches."""
    zones = rows_by_id(session, Zone, (h.data_center_id for h in hosts))
    pods = rows_by_id(session, Pod, (h.pod_id for h in hosts))
    clusters = rows_by_id(session, Cluster, (h.cluster_id for h in hosts))
    return [
        HostRecord(
            host=h,
            zone=zones[h.data_center_id],
            pod=pods[h.pod_id],
            cluster=clusters[h.cluster_id],
        )
        for h in hosts
    ]


def pool_records(
    session: Session, pools: Sequence[StoragePool], allocated: AllocatedBytes | None = None
) -> list[PoolRecord]:
    """Build the records of a page of pools, loading their zones, pods, clusters in batches.

    ``allocated`` sums what each pool holds; without it the records say 0.
    """
    sums = allocated(session, [p.id for p in pools]) if allocated is not None and pools else {}
    zones = rows_by_id(session, Zone, (p.data_center_id for p in pools))
    pods = rows_by_id(session, Pod, (p.pod_id for p in pools))
    clusters = rows_by_id(session, Cluster, (p.cluster_id for p in pools))
    return [
        PoolRecord(
            pool=p,
            zone=zones[p.data_center_id],
            pod=pods.get(p.pod_id) if p.pod_id else None,
            cluster=clusters.get(p.cluster_id) if p.cluster_id else None,
            allocated_bytes=sums.get(p.id, 0),
        )
        for p in pools
    ]
