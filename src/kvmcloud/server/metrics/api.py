"""The metrics plugin's list commands: VMs, hosts, pools, zones, clusters, servers, totals."""

from dataclasses import dataclass

from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ApiResult, ListResult, ObjectResult
from kvmcloud.server.infrastructure import api as infrastructure_api
from kvmcloud.server.jobs import api as jobs_api
from kvmcloud.server.metrics import figures, service, views
from kvmcloud.server.vms import api as vms_api

commands = CommandSet()

# Each metrics list runs its base list command (same parameters, visibility and paging),
# then adds the figures: the two cannot disagree on which objects a caller sees.


def _listed(result: ApiResult) -> ListResult:
    # The base handlers are declared as returning any result; every one of them lists.
    assert isinstance(result, ListResult)
    return result


@commands.command(
    "listVirtualMachinesMetrics",
    vms_api.ListVirtualMachinesParams,
    description="Lists VM metrics",
    response_key="virtualmachine",
    since="4.9.3",
    response=views.VM_METRICS,
)
def list_virtual_machines_metrics(
    ctx: ApiContext, params: vms_api.ListVirtualMachinesParams
) -> ListResult:
    """List VMs as listVirtualMachines does, with their allocated CPU and memory."""
    base = _listed(vms_api.list_virtual_machines(ctx, params))
    items = [views.vm_metrics_response(vm) for vm in base.items]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listHostsMetrics",
    infrastructure_api.ListHostsParams,
    description="Lists hosts metrics",
    response_key="host",
    since="4.9.3",
    response=views.HOST_METRICS,
)
def list_hosts_metrics(ctx: ApiContext, params: infrastructure_api.ListHostsParams) -> ListResult:
    """List hosts as listHosts does, with their capacity and what their VMs hold."""
    base = _listed(infrastructure_api.list_hosts(ctx, params))
    loads = service.host_loads(ctx.db, [host["id"] for host in base.items])
    items = [
        views.host_metrics_response(host, loads.get(host["id"], figures.HostLoad()))
        for host in base.items
    ]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listStoragePoolsMetrics",
    infrastructure_api.ListStoragePoolsParams,
    description="Lists storage pool metrics",
    response_key="storagepool",
    since="4.9.3",
    response=views.STORAGE_POOL_METRICS,
)
def list_storage_pools_metrics(
    ctx: ApiContext, params: infrastructure_api.ListStoragePoolsParams
) -> ListResult:
    """List pools as listStoragePools does, with their capacity and use in GiB."""
    base = _listed(infrastructure_api.list_storage_pools(ctx, params))
    items = [views.storage_pool_metrics_response(pool) for pool in base.items]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listZonesMetrics",
    infrastructure_api.ListZonesParams,
    description="Lists zone metrics",
    response_key="zone",
    since="4.9.3",
    response=views.ZONE_METRICS,
)
def list_zones_metrics(ctx: ApiContext, params: infrastructure_api.ListZonesParams) -> ListResult:
    """List zones as listZones does, with their hosts' capacity and what VMs hold."""
    base = _listed(infrastructure_api.list_zones(ctx, params))
    loads = service.zone_loads(ctx.db, [zone["id"] for zone in base.items])
    items = [views.zone_metrics_response(zone, loads[zone["id"]]) for zone in base.items]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listClustersMetrics",
    infrastructure_api.ListClustersParams,
    description="Lists clusters metrics",
    response_key="cluster",
    since="4.9.3",
    response=views.CLUSTER_METRICS,
)
def list_clusters_metrics(
    ctx: ApiContext, params: infrastructure_api.ListClustersParams
) -> ListResult:
    """List clusters as listClusters does, with their hosts' capacity and what VMs hold."""
    base = _listed(infrastructure_api.list_clusters(ctx, params))
    loads = service.cluster_loads(ctx.db, [cluster["id"] for cluster in base.items])
    items = [views.cluster_metrics_response(c, loads[c["id"]]) for c in base.items]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listManagementServersMetrics",
    jobs_api.ListManagementServersParams,
    description="Lists Management Server metrics",
    response_key="managementserver",
    since="4.17.0",
    response=views.MANAGEMENT_SERVER_METRICS,
)
def list_management_servers_metrics(
    ctx: ApiContext, params: jobs_api.ListManagementServersParams
) -> ListResult:
    """List management servers as listManagementServers does.

    A kvmcloud server collects no JVM, session or agent figures of its peers, so the
    metrics fields are left out: dashboards get the base objects.
    """
    return _listed(jobs_api.list_management_servers(ctx, params))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListInfrastructureParams:
    """Parameters of listInfrastructure (none)."""


@commands.command(
    "listInfrastructure",
    ListInfrastructureParams,
    description="Lists infrastructure",
    response_key="infrastructure",
    since="4.9.3",
    response=views.INFRASTRUCTURE,
)
def list_infrastructure(ctx: ApiContext, params: ListInfrastructureParams) -> ObjectResult:
    """Count the infrastructure objects."""
    counts = service.infrastructure_counts(ctx.db)
    return ObjectResult("infrastructure", views.infrastructure_response(counts))
