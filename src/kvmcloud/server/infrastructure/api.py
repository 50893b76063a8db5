"""Zones, pods, clusters, hosts, storage pools and hypervisors: create/add and list commands."""

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import error_from_answer
from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult, format_date, without_none
from kvmcloud.server.db import new_uuid
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.infrastructure import service
from kvmcloud.server.infrastructure.models import Cluster, Host, Pod, StoragePool, Zone
from kvmcloud.server.queries import get_by_uuid, list_window, paged

commands = CommandSet()
CHECK_POOL_TIMEOUT_S = 30.0


def _keyword(query: Select[Any], column: Any, keyword: str | None) -> Select[Any]:
    return query.where(column.contains(keyword)) if keyword else query


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

    id: Uuid | None = param("the ID of the zone", default=None)
    name: str | None = param("the name of the zone", default=None)
    available: bool | None = param("true to list zones the caller can use", default=None)
    network_type: str | None = param("the network type of the zone", default=None)
    show_capacities: bool | None = param("flag to display the capacity of the zones", default=None)


def zone_response(zone: Zone) -> dict[str, Any]:
    """Map a zone to CloudStack's zone object."""
    return without_none(
        {
            "id": zone.uuid,
            "name": zone.name,
            "description": zone.description,
            "dns1": zone.dns1,
            "dns2": zone.dns2,
            "internaldns1": zone.internal_dns1,
            "internaldns2": zone.internal_dns2,
            "guestcidraddress": zone.guest_network_cidr,
            "networktype": zone.networktype,
            "securitygroupsenabled": False,
            "allocationstate": zone.allocation_state,
            "zonetoken": zone.uuid,
            "dhcpprovider": "VirtualRouter",
            "localstorageenabled": zone.local_storage_enabled,
            "type": "Core",
            "tags": [],
            "created": format_date(zone.created),
        }
    )


@commands.command(
    "createZone",
    CreateZoneParams,
    description="Creates a Zone.",
    response_key="zone",
    admin_only=True,
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
    with ctx.db.transaction() as session:
        zone = service.create_zone(session, spec, ctx.clock())
        return ObjectResult("zone", zone_response(zone))


@commands.command(
    "listZones", ListZonesParams, description="Lists zones.", response_key="zone", since="2.2.0"
)
def list_zones(ctx: ApiContext, params: ListZonesParams) -> ListResult:
    """List zones."""
    with ctx.db.transaction() as session:
        query = select(Zone).order_by(Zone.id)
        if params.id:
            query = query.where(Zone.uuid == params.id)
        if params.name:
            query = query.where(Zone.name == params.name)
        if params.network_type:
            query = query.where(Zone.networktype == params.network_type.capitalize())
        query = _keyword(query, Zone.name, params.keyword)
        zones, total = paged(session, query, list_window(session, params))
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

    id: Uuid | None = param("list Pods by ID", default=None)
    name: str | None = param("list Pods by name", default=None)
    zone_id: Uuid | None = param("list Pods by Zone ID", default=None)


def pod_response(pod: Pod, zones: dict[int, tuple[str, str]]) -> dict[str, Any]:
    """Map a pod to CloudStack's pod object."""
    zone_uuid, zone_name = zones[pod.data_center_id]
    return without_none(
        {
            "id": pod.uuid,
            "name": pod.name,
            "zoneid": zone_uuid,
            "zonename": zone_name,
            "gateway": pod.gateway,
            "netmask": pod.netmask,
            "startip": [pod.start_ip] if pod.start_ip else None,
            "endip": [pod.end_ip] if pod.end_ip else None,
            "allocationstate": pod.allocation_state,
        }
    )


@commands.command(
    "createPod",
    CreatePodParams,
    description="Creates a new Pod.",
    response_key="pod",
    admin_only=True,
)
def create_pod(ctx: ApiContext, params: CreatePodParams) -> ObjectResult:
    """Create a pod in a zone."""
    with ctx.db.transaction() as session:
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        pod = service.create_pod(
            session,
            zone,
            name=params.name,
            gateway=params.gateway,
            netmask=params.netmask,
            start_ip=params.start_ip,
            end_ip=params.end_ip,
            now=ctx.clock(),
        )
        return ObjectResult("pod", pod_response(pod, service.names_by_id(session, Zone)))


@commands.command(
    "listPods", ListPodsParams, description="Lists all Pods.", response_key="pod", admin_only=True
)
def list_pods(ctx: ApiContext, params: ListPodsParams) -> ListResult:
    """List pods."""
    with ctx.db.transaction() as session:
        query = select(Pod).order_by(Pod.id)
        if params.id:
            query = query.where(Pod.uuid == params.id)
        if params.name:
            query = query.where(Pod.name == params.name)
        if params.zone_id:
            query = query.join(Zone, Pod.data_center_id == Zone.id).where(
                Zone.uuid == params.zone_id
            )
        query = _keyword(query, Pod.name, params.keyword)
        pods, total = paged(session, query, list_window(session, params))
        zones = service.names_by_id(session, Zone)
        return ListResult("pod", [pod_response(p, zones) for p in pods], total)


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

    id: Uuid | None = param("lists clusters by the cluster ID", default=None)
    name: str | None = param("lists clusters by the cluster name", default=None)
    zone_id: Uuid | None = param("lists clusters by Zone ID", default=None)
    pod_id: Uuid | None = param("lists clusters by Pod ID", default=None)
    hypervisor: str | None = param("lists clusters by hypervisor type", default=None)


def cluster_response(cluster: Cluster, names: service.PlacementNames) -> dict[str, Any]:
    """Map a cluster to CloudStack's cluster object."""
    zones, pods = names.zones, names.pods
    return {
        "id": cluster.uuid,
        "name": cluster.name,
        "zoneid": zones[cluster.data_center_id][0],
        "zonename": zones[cluster.data_center_id][1],
        "podid": pods[cluster.pod_id][0],
        "podname": pods[cluster.pod_id][1],
        "hypervisortype": cluster.hypervisor_type,
        "clustertype": cluster.cluster_type,
        "allocationstate": cluster.allocation_state,
        "managedstate": "Managed",
    }


@commands.command(
    "addCluster",
    AddClusterParams,
    description="Adds a new cluster",
    response_key="cluster",
    admin_only=True,
)
def add_cluster(ctx: ApiContext, params: AddClusterParams) -> ListResult:
    """Add a cluster of KVM hosts."""
    with ctx.db.transaction() as session:
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        pod = get_by_uuid(session, Pod, params.pod_id, command=ctx.command, param="podid")
        if pod.data_center_id != zone.id:
            raise InvalidParameterError("podid", f"Pod {pod.name} is not in zone {zone.name}")
        cluster = service.add_cluster(
            session,
            pod,
            name=params.cluster_name,
            hypervisor=params.hypervisor,
            cluster_type=params.cluster_type or "CloudManaged",
            now=ctx.clock(),
        )
        return ListResult(
            "cluster", [cluster_response(cluster, service.placement_names(session))], 1
        )


@commands.command(
    "listClusters",
    ListClustersParams,
    description="Lists clusters.",
    response_key="cluster",
    admin_only=True,
)
def list_clusters(ctx: ApiContext, params: ListClustersParams) -> ListResult:
    """List clusters."""
    with ctx.db.transaction() as session:
        query = select(Cluster).order_by(Cluster.id)
        if params.id:
            query = query.where(Cluster.uuid == params.id)
        if params.name:
            query = query.where(Cluster.name == params.name)
        if params.zone_id:
            query = query.join(Zone, Cluster.data_center_id == Zone.id).where(
                Zone.uuid == params.zone_id
            )
        if params.pod_id:
            query = query.join(Pod, Cluster.pod_id == Pod.id).where(Pod.uuid == params.pod_id)
        if params.hypervisor:
            query = query.where(Cluster.hypervisor_type == params.hypervisor.upper())
        query = _keyword(query, Cluster.name, params.keyword)
        clusters, total = paged(session, query, list_window(session, params))
        names = service.placement_names(session)
        return ListResult("cluster", [cluster_response(c, names) for c in clusters], total)


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

    id: Uuid | None = param("the id of the host", default=None)
    name: str | None = param("the name of the host", default=None)
    zone_id: Uuid | None = param("the Zone ID for the host", default=None)
    pod_id: Uuid | None = param("the Pod ID for the host", default=None)
    cluster_id: Uuid | None = param("lists hosts existing in particular cluster", default=None)
    type: str | None = param("the host type", default=None)
    state: str | None = param("the state of the host", default=None)
    hypervisor: str | None = param("hypervisor type of host: KVM", default=None)


def host_response(host: Host, names: service.PlacementNames) -> dict[str, Any]:
    """Map a host to CloudStack's host object."""
    zones, pods, clusters = names.zones, names.pods, names.clusters
    return without_none(
        {
            "id": host.uuid,
            "name": host.name,
            "state": host.status,
            "type": host.type,
            "ipaddress": host.private_ip_address,
            "zoneid": zones[host.data_center_id][0],
            "zonename": zones[host.data_center_id][1],
            "podid": pods[host.pod_id][0],
            "podname": pods[host.pod_id][1],
            "clusterid": clusters[host.cluster_id][0],
            "clustername": clusters[host.cluster_id][1],
            "clustertype": "CloudManaged",
            "hypervisor": host.hypervisor_type,
            "hypervisorversion": host.hypervisor_version,
            "version": host.agent_version,
            "cpunumber": host.cpus,
            "cpuspeed": host.speed,
            "cpusockets": 1,
            "memorytotal": host.ram,
            "resourcestate": host.resource_state,
            "hosttags": host.host_tags,
            "capabilities": "hvm" if host.kvm_available else "tcg",
            "islocalstorageactive": False,
            "created": format_date(host.created),
            "lastpinged": format_date(host.last_ping),
            "events": "",
            "details": {"kvm": str(host.kvm_available).lower()},
        }
    )


@commands.command(
    "addHost", AddHostParams, description="Adds a new host.", response_key="host", admin_only=True
)
def add_host(ctx: ApiContext, params: AddHostParams) -> ListResult:
    """Enrol the agent at ``url`` with its token, then record the host."""
    with ctx.db.transaction() as session:
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        pod = get_by_uuid(session, Pod, params.pod_id, command=ctx.command, param="podid")
        cluster = (
            get_by_uuid(session, Cluster, params.cluster_id, command=ctx.command, param="clusterid")
            if params.cluster_id
            else None
        )
        plan = service.plan_host(
            session,
            zone=zone,
            pod=pod,
            cluster=cluster,
            cluster_name=params.cluster_name,
            url=params.url,
            hypervisor=params.hypervisor,
            host_tags=params.host_tags,
            new_uuid=new_uuid(),
            now=ctx.clock(),
        )
    # No transaction is open while the agent works.
    report = ctx.agents.enroll(
        plan.agent_url,
        msg.EnrollRequest(
            token=params.password,
            host_uuid=plan.host_uuid,
            host_key=plan.host_key,
            server_url=ctx.settings.agent_callback_url,
        ),
    )
    with ctx.db.transaction() as session:
        host = service.record_host(session, plan, report, ctx.clock())
        # The new host gets the zone's direct-download certificates from a job.
        ctx.hooks.queue_new_host_sync(session, host.id, ctx.clock())
        return ListResult("host", [host_response(host, service.placement_names(session))], 1)


@commands.command(
    "listHosts", ListHostsParams, description="Lists hosts.", response_key="host", admin_only=True
)
def list_hosts(ctx: ApiContext, params: ListHostsParams) -> ListResult:
    """List hosts with their heartbeat-derived state."""
    with ctx.db.transaction() as session:
        query = select(Host).where(Host.removed.is_(None)).order_by(Host.id)
        if params.id:
            query = query.where(Host.uuid == params.id)
        if params.name:
            query = query.where(Host.name == params.name)
        if params.zone_id:
            query = query.join(Zone, Host.data_center_id == Zone.id).where(
                Zone.uuid == params.zone_id
            )
        if params.pod_id:
            query = query.join(Pod, Host.pod_id == Pod.id).where(Pod.uuid == params.pod_id)
        if params.cluster_id:
            query = query.join(Cluster, Host.cluster_id == Cluster.id).where(
                Cluster.uuid == params.cluster_id
            )
        if params.type:
            query = query.where(Host.type == params.type)
        if params.state:
            query = query.where(Host.status == params.state.capitalize())
        if params.hypervisor:
            query = query.where(Host.hypervisor_type == params.hypervisor.upper())
        query = _keyword(query, Host.name, params.keyword)
        hosts, total = paged(session, query, list_window(session, params))
        names = service.placement_names(session)
        return ListResult("host", [host_response(h, names) for h in hosts], total)


# --- storage pools ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateStoragePoolParams:
    """Parameters of createStoragePool."""

    name: str = param("the name for the storage pool")
    url: str = param(
        "the URL: SharedMountPoint://localhost/<path> or Filesystem://localhost/<path>"
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

    id: Uuid | None = param("the ID of the storage pool", default=None)
    name: str | None = param("the name of the storage pool", default=None)
    zone_id: Uuid | None = param("the Zone ID for the storage pool", default=None)
    pod_id: Uuid | None = param("the Pod ID for the storage pool", default=None)
    cluster_id: Uuid | None = param("list storage pools belonging to the cluster", default=None)
    scope: str | None = param("the scope of the storage pool", default=None)
    path: str | None = param("the storage pool path", default=None)


def pool_response(pool: StoragePool, names: service.PlacementNames) -> dict[str, Any]:
    """Map a pool to CloudStack's storagepool object."""
    zones, pods, clusters = names.zones, names.pods, names.clusters
    pod = pods.get(pool.pod_id) if pool.pod_id else None
    cluster = clusters.get(pool.cluster_id) if pool.cluster_id else None
    return without_none(
        {
            "id": pool.uuid,
            "name": pool.name,
            "zoneid": zones[pool.data_center_id][0],
            "zonename": zones[pool.data_center_id][1],
            "podid": pod[0] if pod else None,
            "podname": pod[1] if pod else None,
            "clusterid": cluster[0] if cluster else None,
            "clustername": cluster[1] if cluster else None,
            "ipaddress": pool.host_address,
            "path": pool.path,
            "type": pool.pool_type,
            "scope": pool.scope,
            "state": pool.status,
            "hypervisor": pool.hypervisor,
            "tags": pool.tags,
            "istagarule": False,
            "disksizetotal": pool.capacity_bytes,
            "disksizeused": pool.capacity_bytes - pool.available_bytes,
            "disksizeallocated": 0,
            "overprovisionfactor": "1.0",
            "provider": "DefaultPrimary",
            "suitableformigration": False,
            "created": format_date(pool.created),
        }
    )


@commands.command(
    "createStoragePool",
    CreateStoragePoolParams,
    description="Creates a storage pool.",
    response_key="storagepool",
    admin_only=True,
)
def create_storage_pool(ctx: ApiContext, params: CreateStoragePoolParams) -> ObjectResult:
    """Create a file-based pool after every Up host of its scope confirms the path."""
    with ctx.db.transaction() as session:
        command, get = ctx.command, get_by_uuid
        zone = get(session, Zone, params.zone_id, command=command, param="zoneid")
        pod = (
            get(session, Pod, params.pod_id, command=command, param="podid")
            if params.pod_id
            else None
        )
        cluster = (
            get(session, Cluster, params.cluster_id, command=command, param="clusterid")
            if params.cluster_id
            else None
        )
        host = (
            get(session, Host, params.host_id, command=command, param="hostid")
            if params.host_id
            else None
        )
        plan = service.plan_pool(
            session,
            zone=zone,
            pod=pod,
            cluster=cluster,
            host=host,
            name=params.name,
            url=params.url,
            scope=params.scope,
            tags=params.tags,
            new_uuid=new_uuid(),
        )
    report: msg.PoolReport | None = None
    check = msg.CheckPoolCommand(pool=service.pool_spec(plan))
    for endpoint in plan.check_hosts:
        answer = ctx.agents.call(endpoint, check, timeout_s=CHECK_POOL_TIMEOUT_S)
        if not answer.ok or not isinstance(answer.result, msg.PoolReport):
            raise error_from_answer(
                answer, f"Pool path {plan.path} is not usable on host {endpoint.name}"
            )
        report = answer.result
    assert report is not None  # plan_pool guarantees at least one host
    with ctx.db.transaction() as session:
        pool = service.record_pool(session, plan, report, ctx.clock())
        return ObjectResult("storagepool", pool_response(pool, service.placement_names(session)))


@commands.command(
    "listStoragePools",
    ListStoragePoolsParams,
    description="Lists storage pools.",
    response_key="storagepool",
    admin_only=True,
)
def list_storage_pools(ctx: ApiContext, params: ListStoragePoolsParams) -> ListResult:
    """List primary storage pools."""
    with ctx.db.transaction() as session:
        query = select(StoragePool).where(StoragePool.removed.is_(None)).order_by(StoragePool.id)
        if params.id:
            query = query.where(StoragePool.uuid == params.id)
        if params.name:
            query = query.where(StoragePool.name == params.name)
        if params.zone_id:
            query = query.join(Zone, StoragePool.data_center_id == Zone.id).where(
                Zone.uuid == params.zone_id
            )
        if params.pod_id:
            query = query.join(Pod, StoragePool.pod_id == Pod.id).where(Pod.uuid == params.pod_id)
        if params.cluster_id:
            query = query.join(Cluster, StoragePool.cluster_id == Cluster.id).where(
                Cluster.uuid == params.cluster_id
            )
        if params.scope:
            query = query.where(StoragePool.scope == params.scope.upper())
        if params.path:
            query = query.where(StoragePool.path == params.path)
        query = _keyword(query, StoragePool.name, params.keyword)
        pools, total = paged(session, query, list_window(session, params))
        names = service.placement_names(session)
        return ListResult("storagepool", [pool_response(p, names) for p in pools], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListHypervisorsParams:
    """Parameters of listHypervisors."""

    zone_id: Uuid | None = param("the zone id for listing hypervisors", default=None)


@commands.command(
    "listHypervisors",
    ListHypervisorsParams,
    description="List hypervisors",
    response_key="hypervisor",
)
def list_hypervisors(ctx: ApiContext, params: ListHypervisorsParams) -> ListResult:
    """List the hypervisors kvmcloud supports: KVM."""
    return ListResult("hypervisor", [{"name": service.HYPERVISOR_KVM}], 1)
