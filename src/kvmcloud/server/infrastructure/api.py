"""Zones, pods, clusters, hosts, storage pools and hypervisors: create/add and list commands."""

import ipaddress
from dataclasses import dataclass

from kvmcloud.server.api.params import Entity, ListParams, Long, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.infrastructure import changes, enrolment, listing, service
from kvmcloud.server.infrastructure.views import (
    CLUSTER,
    HOST,
    HYPERVISOR,
    POD,
    STORAGE_POOL,
    ZONE,
    cluster_response,
    host_response,
    pod_response,
    pool_response,
    zone_response,
)

commands = CommandSet()


# --- zones ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateZoneParams:
    """Parameters of createZone."""

    name: str = param("the name of the Zone")
    network_type: str = param("network type of the zone, Basic or Advanced")
    dns1: str | None = param("the first DNS server for the Zone", default=None)
    dns2: str | None = param("the second DNS server for the Zone", default=None)
    internal_dns1: str | None = param("the first internal DNS for the Zone", default=None)
    internal_dns2: str | None = param("the second internal DNS for the Zone", default=None)
    guest_cidr_address: str | None = param("the guest CIDR address for the Zone", default=None)
    local_storage_enabled: bool | None = param(
        "true if local storage offering enabled", default=None
    )
    description: str | None = param("the description of the zone", default=None)
    domain: str | None = param("Network domain name for the networks in the zone", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListZonesParams(ListParams):
    """Parameters of listZones."""

    id: Uuid | None = param("the ID of the zone", entity=Entity.ZONE, default=None)
    name: str | None = param("the name of the zone", default=None)
    available: bool | None = param("true to list zones the caller can use", default=None)
    network_type: str | None = param("the network type of the zone", default=None)
    show_capacities: bool | None = param("flag to display the capacity of the zones", default=None)


@commands.command(
    "createZone",
    CreateZoneParams,
    description="Creates a Zone.",
    response_key="zone",
    response=ZONE,
)
def create_zone(ctx: ApiContext, params: CreateZoneParams) -> ObjectResult:
    """Create a zone."""
    if params.guest_cidr_address:
        try:
            network = ipaddress.ip_network(params.guest_cidr_address, strict=False)
        except ValueError:
            raise InvalidParameterError(
                "guestcidraddress", f"guestcidraddress {params.guest_cidr_address!r} is not a CIDR"
            ) from None
        if network.version != 4 or network.num_addresses < 4:
            raise InvalidParameterError(
                "guestcidraddress",
                "guestcidraddress must be an IPv4 network of at least 4 addresses",
            )
    network_type = params.network_type.capitalize()
    if network_type not in ("Basic", "Advanced"):
        raise InvalidParameterError("networktype", "networktype must be Basic or Advanced")
    spec = service.ZoneSpec(
        name=params.name,
        network_type=network_type,
        dns1=params.dns1,
        dns2=params.dns2,
        internal_dns1=params.internal_dns1,
        internal_dns2=params.internal_dns2,
        description=params.description,
        guest_cidr=params.guest_cidr_address,
        local_storage_enabled=bool(params.local_storage_enabled),
    )
    zone = service.create_zone(ctx.db, spec, ctx.clock)
    return ObjectResult("zone", zone_response(zone))


@commands.command(
    "listZones",
    ListZonesParams,
    description="Lists zones.",
    response_key="zone",
    response=ZONE,
    since="2.2.0",
)
def list_zones(ctx: ApiContext, params: ListZonesParams) -> ListResult:
    """List zones."""
    where = listing.ZoneFilter(
        uuid=params.id,
        name=params.name,
        network_type=params.network_type,
        keyword=params.keyword,
    )
    zones, total = listing.list_zones(ctx.db, where, params)
    return ListResult("zone", [zone_response(z) for z in zones], total)


# --- pods and clusters ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePodParams:
    """Parameters of createPod."""

    name: str = param("the name of the Pod")
    zone_id: Uuid = param("the Zone ID in which the Pod will be created")
    gateway: str | None = param("the gateway for the Pod", default=None)
    netmask: str | None = param("the netmask for the Pod", default=None)
    start_ip: str | None = param("the starting IP address for the Pod", default=None)
    end_ip: str | None = param("the ending IP address for the Pod", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPodsParams(ListParams):
    """Parameters of listPods."""

    id: Uuid | None = param("list Pods by ID", entity=Entity.POD, default=None)
    name: str | None = param("list Pods by name", default=None)
    zone_id: Uuid | None = param("list Pods by Zone ID", entity=Entity.ZONE, default=None)


@commands.command(
    "createPod",
    CreatePodParams,
    description="Creates a new Pod.",
    response_key="pod",
    response=POD,
)
def create_pod(ctx: ApiContext, params: CreatePodParams) -> ObjectResult:
    """Create a pod in a zone."""
    spec = service.PodSpec(
        name=params.name,
        zone_uuid=params.zone_id,
        gateway=params.gateway,
        netmask=params.netmask,
        start_ip=params.start_ip,
        end_ip=params.end_ip,
    )
    record = service.create_pod(ctx.db, spec, ctx.clock, command=ctx.command)
    return ObjectResult("pod", pod_response(record))


@commands.command(
    "listPods", ListPodsParams, description="Lists all Pods.", response_key="pod", response=POD
)
def list_pods(ctx: ApiContext, params: ListPodsParams) -> ListResult:
    """List pods."""
    where = listing.PodFilter(
        uuid=params.id, name=params.name, zone_uuid=params.zone_id, keyword=params.keyword
    )
    records, total = listing.list_pods(ctx.db, where, params)
    return ListResult("pod", [pod_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddClusterParams:
    """Parameters of addCluster."""

    cluster_name: str = param("the cluster name")
    zone_id: Uuid = param("the Zone ID for the cluster")
    pod_id: Uuid = param("the Pod ID for the host")
    hypervisor: str = param("hypervisor type of the cluster: KVM")
    cluster_type: str | None = param("type of the cluster: CloudManaged", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListClustersParams(ListParams):
    """Parameters of listClusters."""

    id: Uuid | None = param("lists clusters by the cluster ID", entity=Entity.CLUSTER, default=None)
    name: str | None = param("lists clusters by the cluster name", default=None)
    zone_id: Uuid | None = param("lists clusters by Zone ID", entity=Entity.ZONE, default=None)
    pod_id: Uuid | None = param("lists clusters by Pod ID", entity=Entity.POD, default=None)
    hypervisor: str | None = param("lists clusters by hypervisor type", default=None)


@commands.command(
    "addCluster",
    AddClusterParams,
    description="Adds a new cluster",
    response_key="cluster",
    response=CLUSTER,
)
def add_cluster(ctx: ApiContext, params: AddClusterParams) -> ListResult:
    """Add a cluster of KVM hosts."""
    spec = service.ClusterSpec(
        name=params.cluster_name,
        zone_uuid=params.zone_id,
        pod_uuid=params.pod_id,
        hypervisor=params.hypervisor,
        cluster_type=params.cluster_type or "CloudManaged",
    )
    record = service.add_cluster(ctx.db, spec, ctx.clock, command=ctx.command)
    return ListResult("cluster", [cluster_response(record)], 1)


@commands.command(
    "listClusters",
    ListClustersParams,
    description="Lists clusters.",
    response_key="cluster",
    response=CLUSTER,
)
def list_clusters(ctx: ApiContext, params: ListClustersParams) -> ListResult:
    """List clusters."""
    where = listing.ClusterFilter(
        uuid=params.id,
        name=params.name,
        zone_uuid=params.zone_id,
        pod_uuid=params.pod_id,
        hypervisor=params.hypervisor,
        keyword=params.keyword,
    )
    records, total = listing.list_clusters(ctx.db, where, params)
    return ListResult("cluster", [cluster_response(r) for r in records], total)


# --- hosts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AddHostParams:
    """Parameters of addHost."""

    zone_id: Uuid = param("the Zone ID for the host")
    pod_id: Uuid = param("the Pod ID for the host")
    url: str = param("the host URL: http://<address>[:port] of its kvmcloud-agent")
    hypervisor: str = param("hypervisor type of the host: KVM")
    username: str = param("the username for the host (unused by kvmcloud; CloudStack requires it)")
    password: str = param("the enrolment token printed by kvmcloud-agent on that host")
    cluster_id: Uuid | None = param("the cluster ID for the host", default=None)
    cluster_name: str | None = param("the cluster name for the host", default=None)
    host_tags: str | None = param("list of tags to be added to the host", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListHostsParams(ListParams):
    """Parameters of listHosts."""

    id: Uuid | None = param("the id of the host", entity=Entity.HOST, default=None)
    name: str | None = param("the name of the host", default=None)
    zone_id: Uuid | None = param("the Zone ID for the host", entity=Entity.ZONE, default=None)
    pod_id: Uuid | None = param("the Pod ID for the host", entity=Entity.POD, default=None)
    cluster_id: Uuid | None = param(
        "lists hosts existing in particular cluster", entity=Entity.CLUSTER, default=None
    )
    type: str | None = param("the host type", default=None)
    state: str | None = param("the state of the host", default=None)
    hypervisor: str | None = param("hypervisor type of host: KVM", default=None)


@commands.command(
    "addHost", AddHostParams, description="Adds a new host.", response_key="host", response=HOST
)
def add_host(ctx: ApiContext, params: AddHostParams) -> ListResult:
    """Enrol the agent at ``url`` with its token, then record the host."""
    request = enrolment.HostRequest(
        zone_uuid=params.zone_id,
        pod_uuid=params.pod_id,
        cluster_uuid=params.cluster_id,
        cluster_name=params.cluster_name,
        url=params.url,
        hypervisor=params.hypervisor,
        token=params.password,
        host_tags=params.host_tags,
    )
    record = enrolment.add_host(
        ctx.db,
        ctx.agents,
        ctx.hooks,
        request,
        ctx.clock,
        command=ctx.command,
        server_url=ctx.settings.agent_callback_url,
        pki_dir=ctx.settings.pki_dir,
        box=ctx.box,
    )
    return ListResult("host", [host_response(record)], 1)


@commands.command(
    "listHosts", ListHostsParams, description="Lists hosts.", response_key="host", response=HOST
)
def list_hosts(ctx: ApiContext, params: ListHostsParams) -> ListResult:
    """List hosts with their heartbeat-derived state."""
    where = listing.HostFilter(
        uuid=params.id,
        name=params.name,
        zone_uuid=params.zone_id,
        pod_uuid=params.pod_id,
        cluster_uuid=params.cluster_id,
        type=params.type,
        state=params.state,
        hypervisor=params.hypervisor,
        keyword=params.keyword,
    )
    records, total = listing.list_hosts(ctx.db, where, params)
    return ListResult("host", [host_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateHostParams:
    """Parameters of updateHost."""

    id: Uuid = param("the ID of the host to update", entity=Entity.HOST)
    name: str | None = param("Change the name of host", default=None)
    allocation_state: str | None = param(
        "Change resource state of host, valid values are [Enable, Disable]. Operation may "
        "failed if host in states not allowing Enable/Disable",
        default=None,
    )
    host_tags: str | None = param(
        "list of tags to be added to the host (empty: no tags)",
        length=4096,
        keep_empty=True,
        default=None,
    )
    is_tag_a_rule: bool | None = param(
        "Whether the informed tag is a JS interpretable rule or not (kvmcloud: false only)",
        default=None,
    )


@commands.command(
    "updateHost",
    UpdateHostParams,
    description="Updates a host.",
    response_key="host",
    response=HOST,
)
def update_host(ctx: ApiContext, params: UpdateHostParams) -> ObjectResult:
    """Rename or retag a host, or enable or disable it for new VMs."""
    wanted = changes.HostChanges(
        name=params.name,
        allocation_state=params.allocation_state,
        host_tags=params.host_tags,
        is_tag_a_rule=params.is_tag_a_rule,
    )
    record = changes.update_host(ctx.db, params.id, wanted, command=ctx.command)
    return ObjectResult("host", host_response(record))


# --- storage pools ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateStoragePoolParams:
    """Parameters of createStoragePool."""

    name: str = param("the name for the storage pool")
    url: str = param(
        "the URL: nfs://<server>/<export>, SharedMountPoint://localhost/<path> or "
        "Filesystem://localhost/<path>"
    )
    zone_id: Uuid = param("the Zone ID for the storage pool")
    pod_id: Uuid | None = param("the Pod ID for the storage pool", default=None)
    cluster_id: Uuid | None = param("the cluster ID for the storage pool", default=None)
    host_id: Uuid | None = param(
        "kvmcloud: the host of a Filesystem (host-local) pool", default=None
    )
    scope: str | None = param("the scope of the storage: cluster or zone", default=None)
    hypervisor: str | None = param("hypervisor type of the hosts in zone scope: KVM", default=None)
    tags: str | None = param("the tags for the storage pool", default=None)
    provider: str | None = param("the storage provider name", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListStoragePoolsParams(ListParams):
    """Parameters of listStoragePools."""

    id: Uuid | None = param("the ID of the storage pool", entity=Entity.STORAGE_POOL, default=None)
    name: str | None = param("the name of the storage pool", default=None)
    zone_id: Uuid | None = param(
        "the Zone ID for the storage pool", entity=Entity.ZONE, default=None
    )
    pod_id: Uuid | None = param("the Pod ID for the storage pool", entity=Entity.POD, default=None)
    cluster_id: Uuid | None = param(
        "list storage pools belonging to the cluster", entity=Entity.CLUSTER, default=None
    )
    scope: str | None = param("the scope of the storage pool", default=None)
    path: str | None = param("the storage pool path", default=None)


@commands.command(
    "createStoragePool",
    CreateStoragePoolParams,
    description="Creates a storage pool.",
    response_key="storagepool",
    response=STORAGE_POOL,
)
def create_storage_pool(ctx: ApiContext, params: CreateStoragePoolParams) -> ObjectResult:
    """Create a file-based pool after every Up host of its scope confirms the path."""
    request = service.PoolRequest(
        name=params.name,
        url=params.url,
        zone_uuid=params.zone_id,
        pod_uuid=params.pod_id,
        cluster_uuid=params.cluster_id,
        host_uuid=params.host_id,
        scope=params.scope,
        tags=params.tags,
    )
    record = service.create_storage_pool(
        ctx.db, ctx.agents, request, ctx.clock, command=ctx.command, box=ctx.box
    )
    return ObjectResult("storagepool", pool_response(record))


@commands.command(
    "listStoragePools",
    ListStoragePoolsParams,
    description="Lists storage pools.",
    response_key="storagepool",
    response=STORAGE_POOL,
)
def list_storage_pools(ctx: ApiContext, params: ListStoragePoolsParams) -> ListResult:
    """List primary storage pools."""
    where = listing.PoolFilter(
        uuid=params.id,
        name=params.name,
        zone_uuid=params.zone_id,
        pod_uuid=params.pod_id,
        cluster_uuid=params.cluster_id,
        scope=params.scope,
        path=params.path,
        keyword=params.keyword,
    )
    records, total = listing.list_storage_pools(
        ctx.db, where, params, ctx.hooks.pool_allocated_bytes
    )
    return ListResult("storagepool", [pool_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateStoragePoolParams:
    """Parameters of updateStoragePool."""

    id: Uuid = param("The Id of the storage pool", entity=Entity.STORAGE_POOL)
    name: str | None = param("Change the name of the storage pool", default=None)
    tags: str | None = param(
        "Comma-separated list of tags for the storage pool (empty: no tags)",
        length=4096,
        keep_empty=True,
        default=None,
    )
    capacity_iops: Long | None = param(
        "IOPS CloudStack can provision from this storage pool (kvmcloud: refused)", default=None
    )
    capacity_bytes: Long | None = param(
        "Bytes CloudStack can provision from this storage pool (kvmcloud: refused)", default=None
    )
    enabled: bool | None = param(
        "False to disable the pool for allocation of new volumes, true to enable it back.",
        default=None,
    )
    is_tag_a_rule: bool | None = param(
        "Whether the informed tag is a JS interpretable rule or not (kvmcloud: false only)",
        default=None,
    )


@commands.command(
    "updateStoragePool",
    UpdateStoragePoolParams,
    description="Updates a storage pool.",
    response_key="storagepool",
    response=STORAGE_POOL,
)
def update_storage_pool(ctx: ApiContext, params: UpdateStoragePoolParams) -> ObjectResult:
    """Rename or retag a pool, or disable it for new volumes (enabled=false) and back."""
    wanted = changes.PoolChanges(
        name=params.name,
        tags=params.tags,
        enabled=params.enabled,
        capacity_bytes=params.capacity_bytes,
        capacity_iops=params.capacity_iops,
        is_tag_a_rule=params.is_tag_a_rule,
    )
    record = changes.update_storage_pool(
        ctx.db,
        params.id,
        wanted,
        ctx.caller,
        ctx.clock,
        command=ctx.command,
        allocated=ctx.hooks.pool_allocated_bytes,
    )
    return ObjectResult("storagepool", pool_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListHypervisorsParams:
    """Parameters of listHypervisors."""

    zone_id: Uuid | None = param(
        "the zone id for listing hypervisors", entity=Entity.ZONE, default=None
    )


@commands.command(
    "listHypervisors",
    ListHypervisorsParams,
    description="List hypervisors",
    response_key="hypervisor",
    response=HYPERVISOR,
)
def list_hypervisors(ctx: ApiContext, params: ListHypervisorsParams) -> ListResult:
    """List the hypervisors kvmcloud supports: KVM."""
    return ListResult("hypervisor", [HYPERVISOR.render({"name": service.HYPERVISOR_KVM})], 1)
