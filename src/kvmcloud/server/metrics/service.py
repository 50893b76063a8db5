"""The figures metrics add to listed objects, read in batched queries."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Cluster, Host, Pod, StoragePool, Zone
from kvmcloud.server.jobs.models import ManagementServer, ManagementServerState
from kvmcloud.server.metrics.figures import AreaLoad, HostLoad, InfrastructureCounts
from kvmcloud.server.offerings.models import ServiceOffering
from kvmcloud.server.vms.models import VirtualMachine, VmState

# The states in which a VM holds its host's CPU and memory (CloudStack's capacity
# checker counts a VM from Starting until it has stopped).
_HOLDING = (VmState.STARTING, VmState.RUNNING, VmState.STOPPING)


def host_loads(db: Database, host_uuids: Sequence[str]) -> dict[str, HostLoad]:
    """Return, by host uuid, what the live VMs on each host hold: one query for the page."""
    if not host_uuids:
        return {}
    query = (
        select(
            Host.uuid,
            VirtualMachine.state,
            func.count(VirtualMachine.id),
            func.sum(ServiceOffering.cpu * ServiceOffering.speed),
            func.sum(ServiceOffering.ram_size),
        )
        .join(VirtualMachine, VirtualMachine.host_id == Host.id)
        .join(ServiceOffering, VirtualMachine.service_offering_id == ServiceOffering.id)
        .where(Host.uuid.in_(host_uuids), VirtualMachine.removed.is_(None))
        .group_by(Host.uuid, VirtualMachine.state)
    )
    loads: dict[str, HostLoad] = {}
    with db.transaction() as session:
        for uuid, state, count, mhz, memory_mib in session.execute(query):
            load = loads.get(uuid, HostLoad())
            holds = state in _HOLDING
            loads[uuid] = HostLoad(
                allocated_mhz=load.allocated_mhz + (int(mhz or 0) if holds else 0),
                allocated_memory_bytes=load.allocated_memory_bytes
                + (int(memory_mib or 0) * 1024 * 1024 if holds else 0),
                running=load.running + (count if state == VmState.RUNNING else 0),
                total=load.total + count,
            )
    return loads


def zone_loads(db: Database, zone_uuids: Sequence[str]) -> dict[str, AreaLoad]:
    """Return, by zone uuid, its hosts' capacity, what VMs hold, and its enabled clusters."""
    if not zone_uuids:
        return {}
    clusters = (
        select(
            Zone.uuid,
            func.count(Cluster.id),
            func.count(Cluster.id).filter(Cluster.allocation_state == "Enabled"),
        )
        .join(Cluster, Cluster.data_center_id == Zone.id)
        .where(Zone.uuid.in_(zone_uuids))
        .group_by(Zone.uuid)
    )
    with db.transaction() as session:
        parts = {
            uuid: (int(enabled), int(total)) for uuid, total, enabled in session.execute(clusters)
        }
        return _area_loads(session, Zone, Host.data_center_id, zone_uuids, parts)


def cluster_loads(db: Database, cluster_uuids: Sequence[str]) -> dict[str, AreaLoad]:
    """Return, by cluster uuid, its hosts' capacity, what VMs hold, and its Up hosts."""
    if not cluster_uuids:
        return {}
    hosts = (
        select(
            Cluster.uuid,
            func.count(Host.id),
            func.count(Host.id).filter(Host.status == HostStatus.UP),
        )
        .join(Host, Host.cluster_id == Cluster.id)
        .where(Cluster.uuid.in_(cluster_uuids), Host.removed.is_(None))
        .group_by(Cluster.uuid)
    )
    with db.transaction() as session:
        parts = {uuid: (int(up), int(total)) for uuid, total, up in session.execute(hosts)}
        return _area_loads(session, Cluster, Host.cluster_id, cluster_uuids, parts)


def _area_loads(
    session: Session,
    area: type[Zone] | type[Cluster],
    host_area: InstrumentedAttribute[int],
    uuids: Sequence[str],
    parts: dict[str, tuple[int, int]],
) -> dict[str, AreaLoad]:
    """Sum the live hosts of each area and what the VMs on them hold: two grouped queries."""
    capacity = (
        select(area.uuid, func.sum(Host.cpus * Host.speed), func.sum(Host.ram))
        .join(Host, host_area == area.id)
        .where(area.uuid.in_(uuids), Host.removed.is_(None))
        .group_by(area.uuid)
    )
    held = (
        select(
            area.uuid,
            func.sum(ServiceOffering.cpu * ServiceOffering.speed),
            func.sum(ServiceOffering.ram_size),
        )
        .join(Host, host_area == area.id)
        .join(VirtualMachine, VirtualMachine.host_id == Host.id)
        .join(ServiceOffering, VirtualMachine.service_offering_id == ServiceOffering.id)
        .where(
            area.uuid.in_(uuids),
            Host.removed.is_(None),
            VirtualMachine.removed.is_(None),
            VirtualMachine.state.in_(_HOLDING),
        )
        .group_by(area.uuid)
    )
    capacities = {
        uuid: (int(mhz or 0), int(ram or 0)) for uuid, mhz, ram in session.execute(capacity)
    }
    holdings = {uuid: (int(mhz or 0), int(mib or 0)) for uuid, mhz, mib in session.execute(held)}
    loads = {}
    for uuid in uuids:
        capacity_mhz, capacity_memory = capacities.get(uuid, (0, 0))
        held_mhz, held_mib = holdings.get(uuid, (0, 0))
        healthy, total = parts.get(uuid, (0, 0))
        loads[uuid] = AreaLoad(
            capacity_mhz=capacity_mhz,
            capacity_memory_bytes=capacity_memory,
            allocated_mhz=held_mhz,
            allocated_memory_bytes=held_mib * 1024 * 1024,
            healthy=healthy,
            total=total,
        )
    return loads


def infrastructure_counts(db: Database) -> InfrastructureCounts:
    """Count the live zones, pods, clusters, hosts, pools and running management servers."""
    queries = (
        select(func.count(Zone.id)),
        select(func.count(Pod.id)),
        select(func.count(Cluster.id)),
        select(func.count(Host.id)).where(Host.removed.is_(None)),
        select(func.count(StoragePool.id)).where(StoragePool.removed.is_(None)),
        select(func.count(ManagementServer.id)).where(
            ManagementServer.state == ManagementServerState.UP
        ),
    )
    with db.transaction() as session:
        zones, pods, clusters, hosts, pools, servers = (
            session.scalar(query) or 0 for query in queries
        )
    return InfrastructureCounts(
        zones=zones,
        pods=pods,
        clusters=clusters,
        hosts=hosts,
        storage_pools=pools,
        management_servers=servers,
    )
