"""Network offerings, physical networks, traffic types, providers and guest networks."""

from dataclasses import dataclass

from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import Entity, ListParams, OwnerListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, FlatResult, ListResult, ObjectResult
from kvmcloud.server.networks import offerings, physical, service, views

commands = CommandSet()


# --- network offerings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateNetworkOfferingParams:
    """Parameters of createNetworkOffering."""

    name: str = param("the name of the network offering", length=64)
    display_text: str | None = param(
        "the display text of the network offering, defaults to the value of 'name'.",
        default=None,
    )
    traffic_type: str = param(
        "the traffic type for the network offering. Supported type in current release is GUEST only"
    )
    guest_ip_type: str = param("guest type of the network offering: L2, Shared or Isolated")
    tags: str | None = param("the tags for the network offering.", length=4096, default=None)
    specify_vlan: bool | None = param("true if network offering supports vlans", default=None)
    availability: str | None = param(
        "the availability of network offering. The default value is Optional. Another value "
        "is Required, which will make it as the default network offering for new networks",
        default=None,
    )
    network_rate: int | None = param(
        "data transfer rate in megabits per second allowed", name="networkrate", default=None
    )
    conserve_mode: bool | None = param(
        "true if the network offering is IP conserve mode enabled", default=None
    )
    specify_ip_ranges: bool | None = param(
        "true if network offering supports specifying ip ranges; defaulted to false if not "
        "specified",
        default=None,
    )
    is_persistent: bool | None = param(
        "true if network offering supports persistent networks; defaulted to false if not "
        "specified",
        default=None,
    )
    for_vpc: bool | None = param(
        "true if network offering is meant to be used for VPC, false otherwise.", default=None
    )
    egress_default_policy: bool | None = param(
        "true if guest network default egress policy is allow; false if default egress "
        "policy is deny",
        default=None,
    )
    supported_services: list[str] | None = param(
        "services supported by the network offering (kvmcloud provides none yet)", default=None
    )
    service_provider_list: dict[str, str] | None = param(
        "provider to service mapping (kvmcloud has no providers)", default=None
    )
    enable: bool | None = param(
        "set to true if the offering is to be enabled during creation. Default is false",
        default=None,
    )


@commands.command(
    "createNetworkOffering",
    CreateNetworkOfferingParams,
    description="Creates a network offering.",
    response_key="networkoffering",
    response=views.NETWORK_OFFERING,
)
def create_network_offering(ctx: ApiContext, params: CreateNetworkOfferingParams) -> ObjectResult:
    """Create a network offering (Disabled unless enable=true, as in CloudStack)."""
    spec = offerings.OfferingSpec(
        name=params.name,
        display_text=params.display_text,
        traffic_type=params.traffic_type,
        guest_ip_type=params.guest_ip_type,
        availability=params.availability,
        specify_vlan=bool(params.specify_vlan),
        specify_ip_ranges=bool(params.specify_ip_ranges),
        conserve_mode=params.conserve_mode is not False,
        is_persistent=bool(params.is_persistent),
        egress_default_policy=params.egress_default_policy is not False,
        for_vpc=bool(params.for_vpc),
        network_rate=params.network_rate,
        tags=params.tags,
        supported_services=params.supported_services or [],
        service_providers=list((params.service_provider_list or {}).values()),
        enable=bool(params.enable),
    )
    offering = offerings.create_offering(ctx.db, spec, ctx.clock)
    return ObjectResult("networkoffering", views.offering_response(offering))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListNetworkOfferingsParams(ListParams):
    """Parameters of listNetworkOfferings."""

    id: Uuid | None = param(
        "list network offerings by ID", entity=Entity.NETWORK_OFFERING, default=None
    )
    name: str | None = param("list network offerings by name", default=None)
    display_text: str | None = param("list network offerings by display text", default=None)
    state: str | None = param("list network offerings by state: Enabled or Disabled", default=None)
    guest_ip_type: str | None = param("list network offerings by guest type", default=None)
    traffic_type: str | None = param("list by traffic type", default=None)
    is_default: bool | None = param(
        "true if need to list only default network offerings", default=None
    )
    zone_id: Uuid | None = param(
        "list network offerings available for network creation in specific zone",
        entity=Entity.ZONE,
        default=None,
    )
    for_vpc: bool | None = param(
        "the network offering can be used only for network creation inside the VPC", default=None
    )


@commands.command(
    "listNetworkOfferings",
    ListNetworkOfferingsParams,
    description="Lists all available network offerings.",
    response_key="networkoffering",
    response=views.NETWORK_OFFERING,
)
def list_network_offerings(ctx: ApiContext, params: ListNetworkOfferingsParams) -> ListResult:
    """List network offerings."""
    wanted = offerings.OfferingFilter(
        id=params.id,
        name=params.name,
        display_text=params.display_text,
        state=params.state,
        guest_ip_type=params.guest_ip_type,
        traffic_type=params.traffic_type,
        is_default=params.is_default,
        zone_id=params.zone_id,
        for_vpc=params.for_vpc,
        keyword=params.keyword,
    )
    rows, total = offerings.list_offerings(ctx.db, wanted, params, command=ctx.command)
    return ListResult("networkoffering", [views.offering_response(o) for o in rows], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateNetworkOfferingParams:
    """Parameters of updateNetworkOffering."""

    id: Uuid = param("the id of the network offering")
    name: str | None = param("the name of the network offering", length=64, default=None)
    display_text: str | None = param("the display text of the network offering", default=None)
    state: str | None = param(
        "update state for the network offering: Enabled or Disabled", default=None
    )
    availability: str | None = param(
        "the availability of network offering: Required or Optional", default=None
    )


@commands.command(
    "updateNetworkOffering",
    UpdateNetworkOfferingParams,
    description="Updates a network offering.",
    response_key="networkoffering",
    response=views.NETWORK_OFFERING,
)
def update_network_offering(ctx: ApiContext, params: UpdateNetworkOfferingParams) -> ObjectResult:
    """Rename, re-describe, enable or disable a network offering."""
    change = offerings.OfferingChange(
        name=params.name,
        display_text=params.display_text,
        state=params.state,
        availability=params.availability,
    )
    offering = offerings.update_offering(ctx.db, params.id, change, command=ctx.command)
    return ObjectResult("networkoffering", views.offering_response(offering))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteNetworkOfferingParams:
    """Parameters of deleteNetworkOffering."""

    id: Uuid = param("the ID of the network offering")


@commands.command(
    "deleteNetworkOffering",
    DeleteNetworkOfferingParams,
    description="Deletes a network offering.",
    response_key="success",
    response=SUCCESS,
)
def delete_network_offering(ctx: ApiContext, params: DeleteNetworkOfferingParams) -> FlatResult:
    """Delete a network offering no network uses (never a default one)."""
    offerings.delete_offering(ctx.db, params.id, ctx.clock, command=ctx.command)
    return FlatResult({"success": True})


# --- physical networks, traffic types, providers -------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPhysicalNetworksParams(ListParams):
    """Parameters of listPhysicalNetworks."""

    id: Uuid | None = param(
        "list physical network by id", entity=Entity.PHYSICAL_NETWORK, default=None
    )
    zone_id: Uuid | None = param(
        "the Zone ID for the physical network", entity=Entity.ZONE, default=None
    )
    name: str | None = param("search by name", default=None)


@commands.command(
    "listPhysicalNetworks",
    ListPhysicalNetworksParams,
    description="Lists physical networks",
    response_key="physicalnetwork",
    response=views.PHYSICAL_NETWORK,
)
def list_physical_networks(ctx: ApiContext, params: ListPhysicalNetworksParams) -> ListResult:
    """List the zones' physical networks (one per zone)."""
    rows, total = physical.list_physical_networks(
        ctx.db,
        params,
        uuid=params.id,
        zone_uuid=params.zone_id,
        name=params.name,
        keyword=params.keyword,
    )
    return ListResult("physicalnetwork", [views.physical_network_response(r) for r in rows], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTrafficTypesParams(ListParams):
    """Parameters of listTrafficTypes."""

    physical_network_id: Uuid = param("the Physical Network ID", entity=Entity.PHYSICAL_NETWORK)


@commands.command(
    "listTrafficTypes",
    ListTrafficTypesParams,
    description="Lists traffic types of a given physical network.",
    response_key="traffictype",
    response=views.TRAFFIC_TYPE,
)
def list_traffic_types(ctx: ApiContext, params: ListTrafficTypesParams) -> ListResult:
    """List the traffic types a physical network carries."""
    rows, total = physical.list_traffic_types(
        ctx.db, params, params.physical_network_id, command=ctx.command
    )
    return ListResult("traffictype", [views.traffic_type_response(r) for r in rows], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListNetworkServiceProvidersParams(ListParams):
    """Parameters of listNetworkServiceProviders."""

    physical_network_id: Uuid | None = param(
        "the Physical Network ID", entity=Entity.PHYSICAL_NETWORK, default=None
    )
    name: str | None = param("list providers by name", default=None)
    state: str | None = param("list providers by state", default=None)


@commands.command(
    "listNetworkServiceProviders",
    ListNetworkServiceProvidersParams,
    description="Lists network serviceproviders for a given physical network.",
    response_key="networkserviceprovider",
    response=views.SERVICE_PROVIDER,
)
def list_network_service_providers(
    ctx: ApiContext, params: ListNetworkServiceProvidersParams
) -> ListResult:
    """An empty list: kvmcloud runs no network element (no router, DHCP, DNS or config drive)."""
    return ListResult("networkserviceprovider", [], 0)


# --- guest networks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateNetworkParams:
    """Parameters of createNetwork."""

    name: str = param("the name of the network")
    display_text: str | None = param(
        "the display text of the network; defaults to the name", default=None
    )
    network_offering_id: Uuid = param("the network offering ID")
    zone_id: Uuid = param("the zone ID for the network")
    gateway: str | None = param(
        "the gateway of the network. Required for shared networks", default=None
    )
    netmask: str | None = param(
        "the netmask of the network. Required for shared networks", default=None
    )
    network_domain: str | None = param("network domain", default=None)
    account: str | None = param("account that will own the network", length=100, default=None)
    domain_id: Uuid | None = param(
        "domain ID of the account owning a network", entity=Entity.DOMAIN, default=None
    )


@commands.command(
    "createNetwork",
    CreateNetworkParams,
    description="Creates a network",
    response_key="network",
    response=views.NETWORK,
)
def create_network(ctx: ApiContext, params: CreateNetworkParams) -> ObjectResult:
    """Record a guest network (nothing is set up on hosts yet)."""
    spec = service.NetworkSpec(
        name=params.name,
        display_text=params.display_text,
        offering_uuid=params.network_offering_id,
        zone_uuid=params.zone_id,
        gateway=params.gateway,
        netmask=params.netmask,
        network_domain=params.network_domain,
        account_name=params.account,
        domain_uuid=params.domain_id,
    )
    record = service.create_network(
        ctx.db, spec, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return ObjectResult("network", views.network_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListNetworksParams(OwnerListParams):
    """Parameters of listNetworks."""

    id: Uuid | None = param("list networks by ID", entity=Entity.NETWORK, default=None)
    zone_id: Uuid | None = param("the zone ID of the network", entity=Entity.ZONE, default=None)
    type: str | None = param(
        "the type of the network. Supported values are: Isolated, L2, Shared and all",
        default=None,
    )
    traffic_type: str | None = param("type of the traffic", default=None)
    acl_type: str | None = param(
        "list networks by ACL (access control list) type. Supported values are account and domain",
        default=None,
    )
    physical_network_id: Uuid | None = param(
        "list networks by physical network id", entity=Entity.PHYSICAL_NETWORK, default=None
    )
    network_offering_id: Uuid | None = param(
        "list networks by network offering ID", entity=Entity.NETWORK_OFFERING, default=None
    )


@commands.command(
    "listNetworks",
    ListNetworksParams,
    description="Lists all available networks.",
    response_key="network",
    response=views.NETWORK,
)
def list_networks(ctx: ApiContext, params: ListNetworksParams) -> ListResult:
    """List the guest networks the caller sees (as listVirtualMachines sees VMs)."""
    wanted = service.NetworkFilter(
        owners=params.owner_filter(),
        id=params.id,
        zone_id=params.zone_id,
        # CloudStack's "all" means no filter on the type.
        guest_type=None if (params.type or "").lower() == "all" else params.type,
        traffic_type=params.traffic_type,
        acl_type=params.acl_type,
        physical_network_id=params.physical_network_id,
        offering_id=params.network_offering_id,
        keyword=params.keyword,
    )
    records, total = service.list_networks(
        ctx.db, wanted, params, caller=ctx.caller, command=ctx.command
    )
    return ListResult("network", [views.network_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateNetworkParams:
    """Parameters of updateNetwork."""

    id: Uuid = param("the ID of the network")
    name: str | None = param("the new name for the network", default=None)
    display_text: str | None = param("the new display text for the network", default=None)


@commands.command(
    "updateNetwork",
    UpdateNetworkParams,
    description="Updates a network",
    response_key="network",
    response=views.NETWORK,
    is_async=True,
)
def update_network(ctx: ApiContext, params: UpdateNetworkParams) -> AsyncResult:
    """Queue renaming or re-describing a network (async, as CloudStack's UpdateNetworkCmd)."""
    job_id = service.queue_update(
        ctx.db,
        params.id,
        name=params.name,
        display_text=params.display_text,
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
    )
    return AsyncResult(job_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteNetworkParams:
    """Parameters of deleteNetwork."""

    id: Uuid = param("the ID of the network")
    forced: bool | None = param(
        "Force delete a network. Network will be marked as 'Destroy' even when commands to "
        "shutdown and cleanup to the backend fails.",
        default=None,
    )


@commands.command(
    "deleteNetwork",
    DeleteNetworkParams,
    description="Deletes a network",
    response_key="success",
    response=SUCCESS,
    is_async=True,
)
def delete_network(ctx: ApiContext, params: DeleteNetworkParams) -> AsyncResult:
    """Queue the network's deletion."""
    job_id = service.queue_delete(
        ctx.db, params.id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)
