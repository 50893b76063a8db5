"""Records: a zone's pod, cluster, host or pool row with the rows its response names."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.infrastructure.models import Cluster, Host, Pod, StoragePool, Zone
from kvmcloud.server.queries import keep, rows_by_id


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
    """Build the records of a page of hosts, loading their zones, pods, clusters at once."""
    zones, pods, clusters = _placements(session, Host, [h.id for h in hosts])
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
    zones, pods, clusters = _placements(session, StoragePool, [p.id for p in pools])
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


def _placements(
    session: Session, model: type[Host] | type[StoragePool], ids: Sequence[int]
) -> tuple[dict[int, Zone], dict[int, Pod], dict[int, Cluster]]:
    """Load the zones, pods and clusters of these hosts or pools in one query.

    A row per distinct (zone, pod, cluster) of the page, not one per host or pool.
    """
    zones: dict[int, Zone] = {}
    pods: dict[int, Pod] = {}
    clusters: dict[int, Cluster] = {}
    if not ids:
        return zones, pods, clusters
    named = (
        select(model.data_center_id, model.pod_id, model.cluster_id)
        .where(model.id.in_(ids))
        .distinct()
        .subquery()
    )
    query = (
        select(Zone, Pod, Cluster)
        .select_from(named)
        .outerjoin(Zone, Zone.id == named.c.data_center_id)
        .outerjoin(Pod, Pod.id == named.c.pod_id)
        .outerjoin(Cluster, Cluster.id == named.c.cluster_id)
    )
    for zone, pod, cluster in session.execute(query):
        keep(zones, zone)
        keep(pods, pod)
        keep(clusters, cluster)
    return zones, pods, clusters
