"""List use cases for zones, pods, clusters, hosts and pools: one page and its related rows."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import (
    Cluster,
    Host,
    Pod,
    PoolScope,
    StoragePool,
    Zone,
)
from kvmcloud.server.infrastructure.records import (
    AllocatedBytes,
    ClusterRecord,
    HostRecord,
    PodRecord,
    PoolRecord,
    cluster_records,
    host_records,
    pod_records,
    pool_records,
)
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import list_window, matches_enum, paged


def _keyword(query: Select[Any], column: Any, keyword: str | None) -> Select[Any]:
    return query.where(column.contains(keyword)) if keyword else query


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneFilter:
    """Which zones listZones asks for."""

    uuid: str | None = None
    name: str | None = None
    network_type: str | None = None
    keyword: str | None = None


def list_zones(db: Database, where: ZoneFilter, page: PageRequest) -> tuple[list[Zone], int]:
    """Return one page of zones and the count of every match."""
    with db.transaction() as session:
        query = select(Zone).order_by(Zone.id)
        if where.uuid:
            query = query.where(Zone.uuid == where.uuid)
        if where.name:
            query = query.where(Zone.name == where.name)
        if where.network_type:
            query = query.where(Zone.networktype == where.network_type.capitalize())
        query = _keyword(query, Zone.name, where.keyword)
        return paged(session, query, list_window(session, page))


@dataclass(frozen=True, slots=True, kw_only=True)
class PodFilter:
    """Which pods listPods asks for."""

    uuid: str | None = None
    name: str | None = None
    zone_uuid: str | None = None
    keyword: str | None = None


def list_pods(db: Database, where: PodFilter, page: PageRequest) -> tuple[list[PodRecord], int]:
    """Return one page of pods with their zones, and the count of every match."""
    with db.transaction() as session:
        query = select(Pod).order_by(Pod.id)
        if where.uuid:
            query = query.where(Pod.uuid == where.uuid)
        if where.name:
            query = query.where(Pod.name == where.name)
        if where.zone_uuid:
            query = query.join(Zone, Pod.data_center_id == Zone.id).where(
                Zone.uuid == where.zone_uuid
            )
        query = _keyword(query, Pod.name, where.keyword)
        pods, total = paged(session, query, list_window(session, page))
        return pod_records(session, pods), total


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterFilter:
    """Which clusters listClusters asks for."""

    uuid: str | None = None
    name: str | None = None
    zone_uuid: str | None = None
    pod_uuid: str | None = None
    hypervisor: str | None = None
    keyword: str | None = None


def list_clusters(
    db: Database, where: ClusterFilter, page: PageRequest
) -> tuple[list[ClusterRecord], int]:
    """Return one page of clusters with their zones and pods, and the count of every match."""
    with db.transaction() as session:
        query = select(Cluster).order_by(Cluster.id)
        if where.uuid:
            query = query.where(Cluster.uuid == where.uuid)
        if where.name:
            query = query.where(Cluster.name == where.name)
        if where.zone_uuid:
            query = query.join(Zone, Cluster.data_center_id == Zone.id).where(
                Zone.uuid == where.zone_uuid
            )
        if where.pod_uuid:
            query = query.join(Pod, Cluster.pod_id == Pod.id).where(Pod.uuid == where.pod_uuid)
        if where.hypervisor:
            query = query.where(Cluster.hypervisor_type == where.hypervisor.upper())
        query = _keyword(query, Cluster.name, where.keyword)
        clusters, total = paged(session, query, list_window(session, page))
        return cluster_records(session, clusters), total


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFilter:
    """Which hosts listHosts asks for."""

    uuid: str | None = None
    name: str | None = None
    zone_uuid: str | None = None
    pod_uuid: str | None = None
    cluster_uuid: str | None = None
    type: str | None = None
    state: str | None = None
    hypervisor: str | None = None
    keyword: str | None = None


def list_hosts(db: Database, where: HostFilter, page: PageRequest) -> tuple[list[HostRecord], int]:
    """Return one page of live hosts with their placement, and the count of every match."""
    with db.transaction() as session:
        query = select(Host).where(Host.removed.is_(None)).order_by(Host.id)
        if where.uuid:
            query = query.where(Host.uuid == where.uuid)
        if where.name:
            query = query.where(Host.name == where.name)
        query = _placed_in(query, Host, where.zone_uuid, where.pod_uuid, where.cluster_uuid)
        if where.type:
            query = query.where(Host.type == where.type)
        if where.state:
            query = query.where(matches_enum(Host.status, HostStatus, where.state))
        if where.hypervisor:
            query = query.where(Host.hypervisor_type == where.hypervisor.upper())
        query = _keyword(query, Host.name, where.keyword)
        hosts, total = paged(session, query, list_window(session, page))
        return host_records(session, hosts), total


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolFilter:
    """Which storage pools listStoragePools asks for."""

    uuid: str | None = None
    name: str | None = None
    zone_uuid: str | None = None
    pod_uuid: str | None = None
    cluster_uuid: str | None = None
    scope: str | None = None
    path: str | None = None
    keyword: str | None = None


def list_storage_pools(
    db: Database, where: PoolFilter, page: PageRequest, allocated: AllocatedBytes | None = None
) -> tuple[list[PoolRecord], int]:
    """Return one page of live pools with their placement and what they hold, and the count."""
    with db.transaction() as session:
        query = select(StoragePool).where(StoragePool.removed.is_(None)).order_by(StoragePool.id)
        if where.uuid:
            query = query.where(StoragePool.uuid == where.uuid)
        if where.name:
            query = query.where(StoragePool.name == where.name)
        query = _placed_in(query, StoragePool, where.zone_uuid, where.pod_uuid, where.cluster_uuid)
        if where.scope:
            query = query.where(matches_enum(StoragePool.scope, PoolScope, where.scope))
        if where.path:
            query = query.where(StoragePool.path == where.path)
        query = _keyword(query, StoragePool.name, where.keyword)
        pools, total = paged(session, query, list_window(session, page))
        return pool_records(session, pools, allocated), total


def _placed_in(
    query: Select[Any],
    model: type[Host] | type[StoragePool],
    zone_uuid: str | None,
    pod_uuid: str | None,
    cluster_uuid: str | None,
) -> Select[Any]:
    """Keep the rows in the zone, pod and cluster given by uuid (each when given)."""
    if zone_uuid:
        query = query.join(Zone, model.data_center_id == Zone.id).where(Zone.uuid == zone_uuid)
    if pod_uuid:
        query = query.join(Pod, model.pod_id == Pod.id).where(Pod.uuid == pod_uuid)
    if cluster_uuid:
        query = query.join(Cluster, model.cluster_id == Cluster.id).where(
            Cluster.uuid == cluster_uuid
        )
    return query
