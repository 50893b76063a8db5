"""listVirtualMachinesMetrics, listHostsMetrics, listStoragePoolsMetrics, listInfrastructure."""

from dataclasses import dataclass

from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ApiResult, ListResult, ObjectResult
from kvmcloud.server.infrastructure import api as infrastructure_api
from kvmcloud.server.metrics import figures, service
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
)
def list_virtual_machines_metrics(
    ctx: ApiContext, params: vms_api.ListVirtualMachinesParams
) -> ListResult:
    """List VMs as listVirtualMachines does, with their allocated CPU and memory."""
    base = _listed(vms_api.list_virtual_machines(ctx, params))
    items = [{**vm, **figures.vm_metrics(vm)} for vm in base.items]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listHostsMetrics",
    infrastructure_api.ListHostsParams,
    description="Lists hosts metrics",
    response_key="host",
    since="4.9.3",
)
def list_hosts_metrics(ctx: ApiContext, params: infrastructure_api.ListHostsParams) -> ListResult:
    """List hosts as listHosts does, with their capacity and what their VMs hold."""
    base = _listed(infrastructure_api.list_hosts(ctx, params))
    loads = service.host_loads(ctx.db, [host["id"] for host in base.items])
    items = [
        {**host, **figures.host_metrics(host, loads.get(host["id"], figures.HostLoad()))}
        for host in base.items
    ]
    return ListResult(base.item_key, items, base.count)


@commands.command(
    "listStoragePoolsMetrics",
    infrastructure_api.ListStoragePoolsParams,
    description="Lists storage pool metrics",
    response_key="storagepool",
    since="4.9.3",
)
def list_storage_pools_metrics(
    ctx: ApiContext, params: infrastructure_api.ListStoragePoolsParams
) -> ListResult:
    """List pools as listStoragePools does, with their capacity and use in GiB."""
    base = _listed(infrastructure_api.list_storage_pools(ctx, params))
    items = [{**pool, **figures.pool_metrics(pool)} for pool in base.items]
    return ListResult(base.item_key, items, base.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListInfrastructureParams:
    """Parameters of listInfrastructure (none)."""


@commands.command(
    "listInfrastructure",
    ListInfrastructureParams,
    description="Lists infrastructure",
    response_key="infrastructure",
    since="4.9.3",
)
def list_infrastructure(ctx: ApiContext, params: ListInfrastructureParams) -> ObjectResult:
    """Count the infrastructure objects."""
    counts = service.infrastructure_counts(ctx.db)
    return ObjectResult("infrastructure", figures.infrastructure(counts))
