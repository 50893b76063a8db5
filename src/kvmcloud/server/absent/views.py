"""CloudStack's objects kvmcloud has none of, declared so listApis can describe them (pure)."""

from kvmcloud.server.api.fields import FieldType, ObjectSchema, ResponseField, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.infrastructure.views import RESOURCE_TAG

# No list here ever answers an object, but clients build their models from listApis
# (Marvin, OpenAPI generators): each schema keeps the CloudStack fields a client reads or
# filters on, with CloudStack's descriptions, not every field of the Java class.


def _tags(description: str) -> ResponseField:
    return out("tags", FieldType.LIST, description, nested=RESOURCE_TAG)


PUBLIC_IP_ADDRESS = ObjectSchema(
    "IPAddressResponse",
    (
        out("id", FieldType.STRING, "public IP address id"),
        out("ipaddress", FieldType.STRING, "public IP address"),
        out("allocated", FieldType.DATE, "date the public IP address was acquired"),
        out("zoneid", FieldType.STRING, "the ID of the zone the public IP address belongs to"),
        out("zonename", FieldType.STRING, "the name of the zone the public IP address belongs to"),
        out(
            "issourcenat",
            FieldType.BOOLEAN,
            "true if the IP address is a source nat address, false otherwise",
        ),
        out("isstaticnat", FieldType.BOOLEAN, "true if this ip is for static nat, false otherwise"),
        out("account", FieldType.STRING, "the account the public IP address is associated with"),
        out("domainid", FieldType.STRING, "the domain ID the public IP address is associated with"),
        out("domain", FieldType.STRING, "the domain the public IP address is associated with"),
        out("forvirtualnetwork", FieldType.BOOLEAN, "the virtual network for the IP address"),
        out(
            "virtualmachineid",
            FieldType.STRING,
            "virtual machine id the ip address is assigned to (not null only for static nat Ip)",
        ),
        out(
            "associatednetworkid",
            FieldType.STRING,
            "the ID of the Network associated with the IP address",
        ),
        out("networkid", FieldType.STRING, "the ID of the Network where ip belongs to"),
        out(
            "state",
            FieldType.STRING,
            "State of the ip address. Can be: Allocatin, Allocated and Releasing",
        ),
        out("physicalnetworkid", FieldType.STRING, "the physical network this belongs to"),
        out("vpcid", FieldType.STRING, "VPC id the ip belongs to"),
        _tags("the list of resource tags associated with ip address"),
    ),
    entity=Entity.IP_ADDRESS,
)

# CloudStack answers port and IP forwarding rules as one class, FirewallRuleResponse.
FORWARDING_RULE = ObjectSchema(
    "FirewallRuleResponse",
    (
        out("id", FieldType.STRING, "the ID of the port forwarding rule"),
        out(
            "privateport",
            FieldType.STRING,
            "the starting port of port forwarding rule's private port range",
        ),
        out(
            "privateendport",
            FieldType.STRING,
            "the ending port of port forwarding rule's private port range",
        ),
        out("protocol", FieldType.STRING, "the protocol of the port forwarding rule"),
        out(
            "publicport",
            FieldType.STRING,
            "the starting port of port forwarding rule's public port range",
        ),
        out(
            "publicendport",
            FieldType.STRING,
            "the ending port of port forwarding rule's private port range",
        ),
        out("virtualmachineid", FieldType.STRING, "the VM ID for the port forwarding rule"),
        out("virtualmachinename", FieldType.STRING, "the VM name for the port forwarding rule"),
        out(
            "ipaddressid",
            FieldType.STRING,
            "the public ip address id for the port forwarding rule",
        ),
        out("ipaddress", FieldType.STRING, "the public ip address for the port forwarding rule"),
        out("state", FieldType.STRING, "the state of the rule"),
        out(
            "cidrlist",
            FieldType.STRING,
            "the cidr list to forward traffic from. Multiple entries are separated by a single "
            "comma character (,).",
        ),
        out("vmguestip", FieldType.STRING, "the vm ip address for the port forwarding rule"),
        out(
            "networkid",
            FieldType.STRING,
            "the id of the guest network the port forwarding rule belongs to",
        ),
        _tags("the list of resource tags associated with the rule"),
    ),
    entity=Entity.FIREWALL_RULE,
)

FIREWALL_RULE = ObjectSchema(
    "FirewallResponse",
    (
        out("id", FieldType.STRING, "the ID of the firewall rule"),
        out("protocol", FieldType.STRING, "the protocol of the firewall rule"),
        out("startport", FieldType.INTEGER, "the starting port of firewall rule's port range"),
        out("endport", FieldType.INTEGER, "the ending port of firewall rule's port range"),
        out("ipaddressid", FieldType.STRING, "the public ip address id for the firewall rule"),
        out("networkid", FieldType.STRING, "the network id of the firewall rule"),
        out("ipaddress", FieldType.STRING, "the public ip address for the firewall rule"),
        out("state", FieldType.STRING, "the state of the rule"),
        out(
            "cidrlist",
            FieldType.STRING,
            "the cidr list to forward traffic from. Multiple entries are separated by a single "
            "comma character (,).",
        ),
        out("icmptype", FieldType.INTEGER, "type of the icmp message being sent"),
        out("icmpcode", FieldType.INTEGER, "error code for this icmp message"),
        out("traffictype", FieldType.STRING, "the traffic type for the firewall rule"),
        _tags("the list of resource tags associated with the rule"),
    ),
    entity=Entity.FIREWALL_RULE,
)

LOAD_BALANCER_RULE = ObjectSchema(
    "LoadBalancerResponse",
    (
        out("id", FieldType.STRING, "the load balancer rule ID"),
        out("name", FieldType.STRING, "the name of the load balancer"),
        out("description", FieldType.STRING, "the description of the load balancer"),
        out("publicipid", FieldType.STRING, "the public ip address id"),
        out("publicip", FieldType.STRING, "the public ip address"),
        out("publicport", FieldType.STRING, "the public port"),
        out("privateport", FieldType.STRING, "the private port"),
        out(
            "algorithm",
            FieldType.STRING,
            "the load balancer algorithm (source, roundrobin, leastconn)",
        ),
        out("networkid", FieldType.STRING, "the id of the guest network the lb rule belongs to"),
        out(
            "cidrlist",
            FieldType.STRING,
            "the CIDR list to allow traffic, all other CIDRs will be blocked. Multiple entries "
            "must be separated by a single comma character (,).",
        ),
        out("account", FieldType.STRING, "the account of the load balancer rule"),
        out("domainid", FieldType.STRING, "the domain ID of the load balancer rule"),
        out("domain", FieldType.STRING, "the domain of the load balancer rule"),
        out("state", FieldType.STRING, "the state of the rule"),
        out("zoneid", FieldType.STRING, "the id of the zone the rule belongs to"),
        out("protocol", FieldType.STRING, "the protocol of the loadbalanacer rule"),
        _tags("the list of resource tags associated with load balancer"),
    ),
    entity=Entity.LOAD_BALANCER_RULE,
)

ROUTER = ObjectSchema(
    "DomainRouterResponse",
    (
        out("id", FieldType.STRING, "the id of the router"),
        out("name", FieldType.STRING, "the name of the router"),
        out("zoneid", FieldType.STRING, "the Zone ID for the router"),
        out("zonename", FieldType.STRING, "the Zone name for the router"),
        out("podid", FieldType.STRING, "the Pod ID for the router"),
        out("hostid", FieldType.STRING, "the host ID for the router"),
        out("hostname", FieldType.STRING, "the hostname for the router"),
        out("hypervisor", FieldType.STRING, "the hypervisor on which the template runs"),
        out("publicip", FieldType.STRING, "the public IP address for the router"),
        out("guestipaddress", FieldType.STRING, "the guest IP address for the router"),
        out("guestnetworkid", FieldType.STRING, "the ID of the corresponding guest network"),
        out("linklocalip", FieldType.STRING, "the link local IP address for the router"),
        out("templateid", FieldType.STRING, "the template ID for the router"),
        out("created", FieldType.DATE, "the date and time the router was created"),
        out("state", FieldType.STRING, "the state of the router"),
        out("account", FieldType.STRING, "the account associated with the router"),
        out("domainid", FieldType.STRING, "the domain ID associated with the router"),
        out("domain", FieldType.STRING, "the domain associated with the router"),
        out("vpcid", FieldType.STRING, "VPC the router belongs to"),
        out("role", FieldType.STRING, "role of the domain router"),
        out("version", FieldType.STRING, "the version of template"),
        out("requiresupgrade", FieldType.BOOLEAN, "true if the router template requires upgrader"),
    ),
    entity=Entity.ROUTER,
)

SYSTEM_VM = ObjectSchema(
    "SystemVmResponse",
    (
        out("id", FieldType.STRING, "the ID of the system VM"),
        out("name", FieldType.STRING, "the name of the system VM"),
        out("systemvmtype", FieldType.STRING, "the system VM type"),
        out("zoneid", FieldType.STRING, "the Zone ID for the system VM"),
        out("zonename", FieldType.STRING, "the Zone name for the system VM"),
        out("podid", FieldType.STRING, "the Pod ID for the system VM"),
        out("hostid", FieldType.STRING, "the host ID for the system VM"),
        out("hostname", FieldType.STRING, "the hostname for the system VM"),
        out("hypervisor", FieldType.STRING, "the hypervisor on which the template runs"),
        out("privateip", FieldType.STRING, "the private IP address for the system VM"),
        out("publicip", FieldType.STRING, "the public IP address for the system VM"),
        out("linklocalip", FieldType.STRING, "the link local IP address for the system vm"),
        out("templateid", FieldType.STRING, "the template ID for the system VM"),
        out("created", FieldType.DATE, "the date and time the system VM was created"),
        out("state", FieldType.STRING, "the state of the system VM"),
        out("agentstate", FieldType.STRING, "the agent state of the system VM"),
        out(
            "activeviewersessions",
            FieldType.INTEGER,
            "the number of active console sessions for the console proxy system vm",
        ),
        out("version", FieldType.STRING, "the systemvm agent version"),
    ),
    entity=Entity.SYSTEM_VM,
)

SNAPSHOT = ObjectSchema(
    "SnapshotResponse",
    (
        out("id", FieldType.STRING, "ID of the snapshot"),
        out("name", FieldType.STRING, "name of the snapshot"),
        out("account", FieldType.STRING, "the account associated with the snapshot"),
        out("domainid", FieldType.STRING, "the domain ID of the snapshot's account"),
        out("domain", FieldType.STRING, "the domain name of the snapshot's account"),
        out("snapshottype", FieldType.STRING, "the type of the snapshot"),
        out("volumeid", FieldType.STRING, "ID of the disk volume"),
        out("volumename", FieldType.STRING, "name of the disk volume"),
        out("volumetype", FieldType.STRING, "type of the disk volume"),
        out("created", FieldType.DATE, "  the date the snapshot was created"),
        out(
            "intervaltype",
            FieldType.STRING,
            "valid types are hourly, daily, weekly, monthy, template, and none.",
        ),
        out("locationtype", FieldType.STRING, "valid location types are primary and secondary."),
        out(
            "state",
            FieldType.STRING,
            "the state of the snapshot. BackedUp means that snapshot is ready to be used; "
            "Creating - the snapshot is being allocated on the primary storage; BackingUp - "
            "the snapshot is being backed up on secondary storage",
        ),
        out("physicalsize", FieldType.LONG, "physical size of backedup snapshot on image store"),
        out("virtualsize", FieldType.LONG, "virtual size of backedup snapshot on image store"),
        out("zoneid", FieldType.STRING, "id of the availability zone"),
        out("zonename", FieldType.STRING, "name of the availability zone"),
        out(
            "revertable",
            FieldType.BOOLEAN,
            "indicates whether the underlying storage supports reverting the volume to this "
            "snapshot",
        ),
        out("ostypeid", FieldType.STRING, "id of the os on volume"),
        out(
            "tags",
            FieldType.SET,
            "the list of resource tags associated",
            nested=RESOURCE_TAG,
        ),
    ),
    entity=Entity.SNAPSHOT,
)

VLAN_IP_RANGE = ObjectSchema(
    "VlanIpRangeResponse",
    (
        out("id", FieldType.STRING, "The ID of the VLAN IP range"),
        out("forvirtualnetwork", FieldType.BOOLEAN, "The virtual Network for the VLAN IP range"),
        out("zoneid", FieldType.STRING, "The Zone ID of the VLAN IP range"),
        out("vlan", FieldType.STRING, "The ID or VID of the VLAN."),
        out("account", FieldType.STRING, "The Account of the VLAN IP range"),
        out("domainid", FieldType.STRING, "The domain ID of the VLAN IP range"),
        out("domain", FieldType.STRING, "The domain name of the VLAN IP range"),
        out("podid", FieldType.STRING, "The Pod ID for the VLAN IP range"),
        out("description", FieldType.STRING, "The description of the VLAN IP range"),
        out("gateway", FieldType.STRING, "The gateway of the VLAN IP range"),
        out("netmask", FieldType.STRING, "The netmask of the VLAN IP range"),
        out("cidr", FieldType.STRING, "The CIDR of the VLAN IP range"),
        out("startip", FieldType.STRING, "The start IP of the VLAN IP range"),
        out("endip", FieldType.STRING, "The end IP of the VLAN IP range"),
        out("networkid", FieldType.STRING, "The Network id of VLAN range"),
        out("physicalnetworkid", FieldType.STRING, "The physical Network this belongs to"),
        out(
            "forsystemvms",
            FieldType.BOOLEAN,
            "Indicates whether VLAN IP range is dedicated to System VMs or not",
        ),
    ),
    entity=Entity.VLAN_IP_RANGE,
)

VPC = ObjectSchema(
    "VpcResponse",
    (
        out("id", FieldType.STRING, "The ID of the VPC"),
        out("name", FieldType.STRING, "The name of the VPC"),
        out("displaytext", FieldType.STRING, "An alternate display text of the VPC."),
        out("state", FieldType.STRING, "State of the VPC. Can be Inactive/Enabled"),
        out("zoneid", FieldType.STRING, "Zone ID of the VPC"),
        out("zonename", FieldType.STRING, "The name of the zone the VPC belongs to"),
        out("cidr", FieldType.STRING, "The CIDR the VPC"),
        out("vpcofferingid", FieldType.STRING, "VPC offering ID the VPC is created from"),
        out("created", FieldType.DATE, "The date this VPC was created"),
        out("account", FieldType.STRING, "The owner of the VPC"),
        out("domainid", FieldType.STRING, "The domain ID of the VPC owner"),
        out("domain", FieldType.STRING, "The domain name of the owner"),
        out("restartrequired", FieldType.BOOLEAN, "True VPC requires restart"),
        out("networkdomain", FieldType.STRING, "The Network domain of the VPC"),
        out("redundantvpcrouter", FieldType.BOOLEAN, "If this VPC has redundant router"),
        _tags("The list of resource tags associated with the project"),
    ),
    entity=Entity.VPC,
)
