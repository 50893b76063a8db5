"""The list commands of objects kvmcloud has none of: each answers an empty list."""

from dataclasses import dataclass

from kvmcloud.server.absent import service, views
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.api.params import Entity, ListParams, OwnerListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult

# kvmcloud has no public IP addresses, forwarding, firewall or load-balancer rules, virtual
# routers, system VMs, snapshots, VLAN IP ranges or VPCs. Clients list them on every pass
# (libcloud's list_nodes, Marvin's imports), so each list exists and says, truthfully, that
# there are none. The parameters are CloudStack's and are checked as everywhere: an id of
# one of these objects names nothing (431), paging and owner filters as in any list.
commands = CommandSet()

PUBLIC_IP_ADDRESS_KEY = "publicipaddress"
PORT_FORWARDING_RULE_KEY = "portforwardingrule"
IP_FORWARDING_RULE_KEY = "ipforwardingrule"
ROUTER_KEY = "router"
SYSTEM_VM_KEY = "systemvm"
SNAPSHOT_KEY = "snapshot"
VLAN_IP_RANGE_KEY = "vlaniprange"
VPC_KEY = "vpc"
LOAD_BALANCER_RULE_KEY = "loadbalancerrule"
FIREWALL_RULE_KEY = "firewallrule"


def _nothing(
    ctx: ApiContext, params: ListParams, key: str, owners: OwnerFilter | None
) -> ListResult:
    service.check_list_request(ctx.db, params, ctx.caller, owners, command=ctx.command)
    return ListResult(key, [], 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectListParams(OwnerListParams):
    """The owner filters, with CloudStack's ``projectid`` (kvmcloud has no projects)."""

    project_id: Uuid | None = param("list objects by project", entity=Entity.PROJECT, default=None)
    for_display: bool | None = param(
        "list resources by display flag; only ROOT admin is eligible to pass this parameter",
        default=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPublicIpAddressesParams(ProjectListParams):
    """Parameters of listPublicIpAddresses."""

    id: Uuid | None = param("lists IP address by ID", entity=Entity.IP_ADDRESS, default=None)
    ip_address: str | None = param("lists the specified IP address", default=None)
    allocated_only: bool | None = param(
        "limits search results to allocated public IP addresses", default=None
    )
    associated_network_id: Uuid | None = param(
        "lists all public IP addresses associated to the network specified",
        entity=Entity.NETWORK,
        default=None,
    )
    for_load_balancing: bool | None = param("list only IPs used for load balancing", default=None)
    for_virtual_network: bool | None = param("the virtual network for the IP address", default=None)
    is_source_nat: bool | None = param("list only source NAT IP addresses", default=None)
    is_static_nat: bool | None = param("list only static NAT IP addresses", default=None)
    network_id: Uuid | None = param(
        "lists all public IP addresses by source network ID", entity=Entity.NETWORK, default=None
    )
    physical_network_id: Uuid | None = param(
        "lists all public IP addresses by physical network ID",
        entity=Entity.PHYSICAL_NETWORK,
        default=None,
    )
    vlan_id: Uuid | None = param(
        "lists all public IP addresses by VLAN ID", entity=Entity.VLAN_IP_RANGE, default=None
    )
    vpc_id: Uuid | None = param("List IPs belonging to the VPC", entity=Entity.VPC, default=None)
    zone_id: Uuid | None = param(
        "lists all public IP addresses by zone ID", entity=Entity.ZONE, default=None
    )
    state: str | None = param("lists all public IP addresses by state", default=None)
    retrieve_only_resource_count: bool | None = param(
        "makes the API's response contains only the resource count", default=None
    )


@commands.command(
    "listPublicIpAddresses",
    ListPublicIpAddressesParams,
    description="Lists all public IP addresses",
    response_key=PUBLIC_IP_ADDRESS_KEY,
    response=views.PUBLIC_IP_ADDRESS,
)
def list_public_ip_addresses(ctx: ApiContext, params: ListPublicIpAddressesParams) -> ListResult:
    """List public IP addresses: kvmcloud has none (a VM's address is its guest NIC's)."""
    return _nothing(ctx, params, PUBLIC_IP_ADDRESS_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPortForwardingRulesParams(ProjectListParams):
    """Parameters of listPortForwardingRules."""

    id: Uuid | None = param(
        "Lists rule with the specified ID.", entity=Entity.FIREWALL_RULE, default=None
    )
    ip_address_id: Uuid | None = param(
        "the ID of IP address of the port forwarding services",
        entity=Entity.IP_ADDRESS,
        default=None,
    )
    network_id: Uuid | None = param(
        "list port forwarding rules for certain network", entity=Entity.NETWORK, default=None
    )


@commands.command(
    "listPortForwardingRules",
    ListPortForwardingRulesParams,
    description="Lists all port forwarding rules for an IP address.",
    response_key=PORT_FORWARDING_RULE_KEY,
    response=views.FORWARDING_RULE,
)
def list_port_forwarding_rules(
    ctx: ApiContext, params: ListPortForwardingRulesParams
) -> ListResult:
    """List port forwarding rules: kvmcloud has none."""
    return _nothing(ctx, params, PORT_FORWARDING_RULE_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListIpForwardingRulesParams(ProjectListParams):
    """Parameters of listIpForwardingRules."""

    id: Uuid | None = param(
        "Lists rule with the specified ID.", entity=Entity.FIREWALL_RULE, default=None
    )
    ip_address_id: Uuid | None = param(
        "list the rule belonging to this public IP address", entity=Entity.IP_ADDRESS, default=None
    )
    virtual_machine_id: Uuid | None = param(
        "Lists all rules applied to the specified VM.", entity=Entity.VIRTUAL_MACHINE, default=None
    )


@commands.command(
    "listIpForwardingRules",
    ListIpForwardingRulesParams,
    description="List the IP forwarding rules",
    response_key=IP_FORWARDING_RULE_KEY,
    response=views.FORWARDING_RULE,
)
def list_ip_forwarding_rules(ctx: ApiContext, params: ListIpForwardingRulesParams) -> ListResult:
    """List IP forwarding (static NAT) rules: kvmcloud has none."""
    return _nothing(ctx, params, IP_FORWARDING_RULE_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRoutersParams(ProjectListParams):
    """Parameters of listRouters."""

    id: Uuid | None = param("the ID of the disk router", entity=Entity.ROUTER, default=None)
    name: str | None = param("the name of the router", default=None)
    state: str | None = param("the state of the router", default=None)
    zone_id: Uuid | None = param("the Zone ID of the router", entity=Entity.ZONE, default=None)
    pod_id: Uuid | None = param("the Pod ID of the router", entity=Entity.POD, default=None)
    cluster_id: Uuid | None = param(
        "the cluster ID of the router", entity=Entity.CLUSTER, default=None
    )
    host_id: Uuid | None = param("the host ID of the router", entity=Entity.HOST, default=None)
    network_id: Uuid | None = param("list by network id", entity=Entity.NETWORK, default=None)
    vpc_id: Uuid | None = param("List networks by VPC", entity=Entity.VPC, default=None)
    for_vpc: bool | None = param(
        "if true is passed for this parameter, list only VPC routers", default=None
    )
    version: str | None = param("list virtual router elements by version", default=None)
    health_checks_failed: bool | None = param(
        "if this parameter is passed, list only routers by health check results", default=None
    )
    fetch_health_check_results: bool | None = param(
        "if true is passed for this parameter, also fetch last executed health check results "
        "for the router. Default is false",
        default=None,
    )


@commands.command(
    "listRouters",
    ListRoutersParams,
    description="List routers.",
    response_key=ROUTER_KEY,
    response=views.ROUTER,
)
def list_routers(ctx: ApiContext, params: ListRoutersParams) -> ListResult:
    """List virtual routers: kvmcloud runs none."""
    return _nothing(ctx, params, ROUTER_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSystemVmsParams(ListParams):
    """Parameters of listSystemVms."""

    id: Uuid | None = param("the ID of the system VM", entity=Entity.SYSTEM_VM, default=None)
    name: str | None = param("the name of the system VM", default=None)
    state: str | None = param("the state of the system VM", default=None)
    system_vm_type: str | None = param(
        'the system VM type. Possible types are "consoleproxy" and "secondarystoragevm".',
        default=None,
    )
    zone_id: Uuid | None = param("the Zone ID of the system VM", entity=Entity.ZONE, default=None)
    pod_id: Uuid | None = param("the Pod ID of the system VM", entity=Entity.POD, default=None)
    host_id: Uuid | None = param("the host ID of the system VM", entity=Entity.HOST, default=None)
    storage_id: Uuid | None = param(
        "the storage ID where vm's volumes belong to", entity=Entity.STORAGE_POOL, default=None
    )


@commands.command(
    "listSystemVms",
    ListSystemVmsParams,
    description="List system virtual machines.",
    response_key=SYSTEM_VM_KEY,
    response=views.SYSTEM_VM,
)
def list_system_vms(ctx: ApiContext, params: ListSystemVmsParams) -> ListResult:
    """List system VMs: kvmcloud needs none (no secondary storage, no console proxy)."""
    return _nothing(ctx, params, SYSTEM_VM_KEY, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSnapshotsParams(ProjectListParams):
    """Parameters of listSnapshots."""

    id: Uuid | None = param("lists snapshot by snapshot ID", entity=Entity.SNAPSHOT, default=None)
    ids: list[Uuid] | None = param(
        "the IDs of the snapshots, mutually exclusive with id", entity=Entity.SNAPSHOT, default=None
    )
    name: str | None = param("lists snapshot by snapshot name", default=None)
    interval_type: str | None = param(
        "valid values are HOURLY, DAILY, WEEKLY, and MONTHLY.", default=None
    )
    snapshot_type: str | None = param("valid values are MANUAL or RECURRING.", default=None)
    volume_id: Uuid | None = param("the ID of the disk volume", entity=Entity.VOLUME, default=None)
    zone_id: Uuid | None = param("list snapshots by zone id", entity=Entity.ZONE, default=None)
    location_type: str | None = param(
        "list snapshots by location type. Used only when showunique=false. Valid location "
        "types: 'primary', 'secondary'. Default is empty",
        default=None,
    )
    show_unique: bool | None = param(
        "If set to false, list templates across zones and their storages", default=None
    )


@commands.command(
    "listSnapshots",
    ListSnapshotsParams,
    description="Lists all available snapshots for the account.",
    response_key=SNAPSHOT_KEY,
    response=views.SNAPSHOT,
)
def list_snapshots(ctx: ApiContext, params: ListSnapshotsParams) -> ListResult:
    """List volume snapshots: kvmcloud takes none."""
    return _nothing(ctx, params, SNAPSHOT_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVlanIpRangesParams(ProjectListParams):
    """Parameters of listVlanIpRanges."""

    id: Uuid | None = param(
        "the ID of the VLAN IP range", entity=Entity.VLAN_IP_RANGE, default=None
    )
    vlan: str | None = param("the ID or VID of the VLAN.", default=None)
    zone_id: Uuid | None = param(
        "the Zone ID of the VLAN IP range", entity=Entity.ZONE, default=None
    )
    pod_id: Uuid | None = param("the Pod ID of the VLAN IP range", entity=Entity.POD, default=None)
    network_id: Uuid | None = param(
        "network id of the VLAN IP range", entity=Entity.NETWORK, default=None
    )
    physical_network_id: Uuid | None = param(
        "physical network id of the VLAN IP range", entity=Entity.PHYSICAL_NETWORK, default=None
    )
    for_virtual_network: bool | None = param(
        "true if VLAN is of Virtual type, false if Direct", default=None
    )


@commands.command(
    "listVlanIpRanges",
    ListVlanIpRangesParams,
    description="Lists all VLAN IP ranges.",
    response_key=VLAN_IP_RANGE_KEY,
    response=views.VLAN_IP_RANGE,
)
def list_vlan_ip_ranges(ctx: ApiContext, params: ListVlanIpRangesParams) -> ListResult:
    """List VLAN IP ranges: kvmcloud has none (guest addresses come from a zone CIDR)."""
    return _nothing(ctx, params, VLAN_IP_RANGE_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVpcsParams(ProjectListParams):
    """Parameters of listVPCs."""

    id: Uuid | None = param("list VPC by id", entity=Entity.VPC, default=None)
    zone_id: Uuid | None = param("list by zone", entity=Entity.ZONE, default=None)
    name: str | None = param("list by name of the VPC", default=None)
    display_text: str | None = param("List by display text of the VPC", default=None)
    cidr: str | None = param(
        "list by cidr of the VPC. All VPC guest networks' cidrs should be within this CIDR",
        default=None,
    )
    supported_services: list[str] | None = param(
        "list VPC supporting certain services", default=None
    )
    state: str | None = param("list VPCs by state", default=None)
    restart_required: bool | None = param("list VPCs by restartRequired option", default=None)


@commands.command(
    "listVPCs",
    ListVpcsParams,
    description="Lists VPCs",
    response_key=VPC_KEY,
    response=views.VPC,
)
def list_vpcs(ctx: ApiContext, params: ListVpcsParams) -> ListResult:
    """List VPCs: kvmcloud has none."""
    return _nothing(ctx, params, VPC_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListLoadBalancerRulesParams(ProjectListParams):
    """Parameters of listLoadBalancerRules."""

    id: Uuid | None = param(
        "the ID of the load balancer rule", entity=Entity.LOAD_BALANCER_RULE, default=None
    )
    name: str | None = param("the name of the load balancer rule", default=None)
    public_ip_id: Uuid | None = param(
        "the public IP address ID of the load balancer rule",
        entity=Entity.IP_ADDRESS,
        default=None,
    )
    virtual_machine_id: Uuid | None = param(
        "the ID of the virtual machine of the load balancer rule",
        entity=Entity.VIRTUAL_MACHINE,
        default=None,
    )
    zone_id: Uuid | None = param("the availability zone ID", entity=Entity.ZONE, default=None)
    network_id: Uuid | None = param(
        "list by network ID the rule belongs to", entity=Entity.NETWORK, default=None
    )


@commands.command(
    "listLoadBalancerRules",
    ListLoadBalancerRulesParams,
    description="Lists load balancer rules.",
    response_key=LOAD_BALANCER_RULE_KEY,
    response=views.LOAD_BALANCER_RULE,
)
def list_load_balancer_rules(ctx: ApiContext, params: ListLoadBalancerRulesParams) -> ListResult:
    """List load balancer rules: kvmcloud has none."""
    return _nothing(ctx, params, LOAD_BALANCER_RULE_KEY, params.owner_filter())


@dataclass(frozen=True, slots=True, kw_only=True)
class ListFirewallRulesParams(ProjectListParams):
    """Parameters of listFirewallRules."""

    id: Uuid | None = param(
        "Lists rule with the specified ID.", entity=Entity.FIREWALL_RULE, default=None
    )
    ip_address_id: Uuid | None = param(
        "the ID of IP address of the firewall services", entity=Entity.IP_ADDRESS, default=None
    )
    network_id: Uuid | None = param(
        "list firewall rules for certain network", entity=Entity.NETWORK, default=None
    )


@commands.command(
    "listFirewallRules",
    ListFirewallRulesParams,
    description="Lists all firewall rules for an IP address.",
    response_key=FIREWALL_RULE_KEY,
    response=views.FIREWALL_RULE,
)
def list_firewall_rules(ctx: ApiContext, params: ListFirewallRulesParams) -> ListResult:
    """List firewall rules: kvmcloud has none."""
    return _nothing(ctx, params, FIREWALL_RULE_KEY, params.owner_filter())
