"""The figures metrics add to listed objects, read in batched queries."""

from collections.abc import Sequence

from sqlalchemy import func, select

from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.models import Cluster, Host, Pod, StoragePool, Zone
from kvmcloud.server.jobs.models import ManagementServer, ManagementServerState
from kvmcloud.server.metrics.figures import HostLoad, InfrastructureCounts
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
