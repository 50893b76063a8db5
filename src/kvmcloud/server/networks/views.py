"""CloudStack's networkoffering, physicalnetwork, traffictype and network objects (pure)."""

import ipaddress
from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.infrastructure.views import RESOURCE_TAG
from kvmcloud.server.networks import rules
from kvmcloud.server.networks.models import NetworkOffering
from kvmcloud.server.networks.physical import PhysicalNetworkRecord, TrafficTypeRecord
from kvmcloud.server.networks.service import NetworkRecord

# CloudStack's ServiceResponse and its nested lists: kvmcloud answers no service (see
# offering_response), but clients read the shape from listApis.
CAPABILITY = ObjectSchema(
    "CapabilityResponse",
    (
        out("name", FieldType.STRING, "the capability name"),
        out("value", FieldType.STRING, "the capability value"),
        out(
            "canchooseservicecapability",
            FieldType.BOOLEAN,
            "can this service capability value can be choosable while creatine network offerings",
        ),
    ),
)

SERVICE_PROVIDER = ObjectSchema(
    "ProviderResponse",
    (
        out("id", FieldType.STRING, "UUID of the Network provider"),
        out("name", FieldType.STRING, "The provider name"),
        out("physicalnetworkid", FieldType.STRING, "The physical Network this belongs to"),
        out("destinationphysicalnetworkid", FieldType.STRING, "The destination physical Network"),
        out("state", FieldType.STRING, "State of the Network provider"),
        out("servicelist", FieldType.LIST, "Services for this provider"),
        out(
            "canenableindividualservice",
            FieldType.BOOLEAN,
            "True if individual services can be enabled/disabled",
        ),
    ),
)

SERVICE = ObjectSchema(
    "ServiceResponse",
    (
        out("name", FieldType.STRING, "the service name"),
        out("provider", FieldType.LIST, "the service provider name", nested=SERVICE_PROVIDER),
        out("capability", FieldType.LIST, "the list of capabilities", nested=CAPABILITY),
    ),
)

NETWORK_OFFERING = ObjectSchema(
    "NetworkOfferingResponse",
    (
        out("id", FieldType.STRING, "the id of the network offering"),
        out("name", FieldType.STRING, "the name of the network offering"),
        out("displaytext", FieldType.STRING, "an alternate display text of the network offering."),
        out("tags", FieldType.STRING, "the tags for the network offering"),
        out("created", FieldType.DATE, "the date this network offering was created"),
        out(
            "traffictype",
            FieldType.STRING,
            "the traffic type for the network offering, supported types are Public, "
            "Management, Control, Guest, Vlan or Storage.",
        ),
        out("isdefault", FieldType.BOOLEAN, "true if network offering is default, false otherwise"),
        out(
            "specifyvlan",
            FieldType.BOOLEAN,
            "true if network offering supports vlans, false otherwise",
        ),
        out(
            "conservemode",
            FieldType.BOOLEAN,
            "true if network offering is ip conserve mode enabled",
        ),
        out(
            "specifyipranges",
            FieldType.BOOLEAN,
            "true if network offering supports specifying ip ranges, false otherwise",
        ),
        out("availability", FieldType.STRING, "availability of the network offering"),
        out("networkrate", FieldType.INTEGER, "data transfer rate in megabits per second allowed."),
        out(
            "state",
            FieldType.STRING,
            "state of the network offering. Can be Disabled/Enabled/Inactive",
        ),
        out(
            "guestiptype",
            FieldType.STRING,
            "guest type of the network offering, can be Shared or Isolated",
        ),
        out("service", FieldType.LIST, "the list of supported services", nested=SERVICE),
        out(
            "serviceofferingid",
            FieldType.STRING,
            "the ID of the service offering used by virtual router provider",
        ),
        out(
            "forvpc", FieldType.BOOLEAN, "true if network offering can be used by VPC networks only"
        ),
        out(
            "fornsx", FieldType.BOOLEAN, "true if network offering can be used by NSX networks only"
        ),
        out(
            "fortungsten",
            FieldType.BOOLEAN,
            "true if network offering can be used by Tungsten-Fabric networks only",
        ),
        out(
            "ispersistent",
            FieldType.BOOLEAN,
            "true if network offering supports persistent networks, false otherwise",
        ),
        out(
            "egressdefaultpolicy",
            FieldType.BOOLEAN,
            "true if guest network default egress policy is allow; false if default egress "
            "policy is deny",
        ),
        out(
            "supportsstrechedl2subnet",
            FieldType.BOOLEAN,
            "true if network offering supports network that span multiple zones",
        ),
        out(
            "supportspublicaccess",
            FieldType.BOOLEAN,
            "true if network offering supports public access for guest networks",
        ),
        out(
            "supportsinternallb",
            FieldType.BOOLEAN,
            "true if network offering supports public access for guest networks",
        ),
        out("internetprotocol", FieldType.STRING, "the internet protocol of the network offering"),
        out("details", FieldType.MAP, "additional key/value details tied with network offering"),
    ),
    entity=Entity.NETWORK_OFFERING,
)

PHYSICAL_NETWORK = ObjectSchema(
    "PhysicalNetworkResponse",
    (
        out("id", FieldType.STRING, "The UUID of the physical Network"),
        out("name", FieldType.STRING, "Name of the physical Network"),
        out("zoneid", FieldType.STRING, "Zone ID of the physical Network"),
        out("zonename", FieldType.STRING, "Zone name of the physical Network"),
        out("state", FieldType.STRING, "State of the physical Network"),
        out(
            "broadcastdomainrange",
            FieldType.STRING,
            "Broadcast domain range of the physical Network",
        ),
        out("isolationmethods", FieldType.STRING, "Isolation methods"),
    ),
    entity=Entity.PHYSICAL_NETWORK,
)

TRAFFIC_TYPE = ObjectSchema(
    "TrafficTypeResponse",
    (
        out("id", FieldType.STRING, "ID of the Network provider"),
        out("traffictype", FieldType.STRING, "The trafficType to be added to the physical Network"),
        out("physicalnetworkid", FieldType.STRING, "The physical Network this belongs to"),
        out(
            "kvmnetworklabel",
            FieldType.STRING,
            "The Network name label of the physical device dedicated to this traffic on a KVM host",
        ),
    ),
)

NETWORK = ObjectSchema(
    "NetworkResponse",
    (
        out("id", FieldType.STRING, "the id of the network"),
        out("name", FieldType.STRING, "the name of the network"),
        out("displaytext", FieldType.STRING, "the displaytext of the network"),
        out("broadcastdomaintype", FieldType.STRING, "Broadcast domain type of the network"),
        out("traffictype", FieldType.STRING, "the traffic type of the network"),
        out("gateway", FieldType.STRING, "the network's gateway"),
        out("netmask", FieldType.STRING, "the network's netmask"),
        out(
            "cidr",
            FieldType.STRING,
            "Cloudstack managed address space, all CloudStack managed VMs get IP address from CIDR",
        ),
        out("zoneid", FieldType.STRING, "zone id of the network"),
        out("zonename", FieldType.STRING, "the name of the zone the network belongs to"),
        out(
            "networkofferingid", FieldType.STRING, "network offering id the network is created from"
        ),
        out(
            "networkofferingname",
            FieldType.STRING,
            "name of the network offering the network is created from",
        ),
        out(
            "networkofferingdisplaytext",
            FieldType.STRING,
            "display text of the network offering the network is created from",
        ),
        out(
            "networkofferingconservemode",
            FieldType.BOOLEAN,
            "true if network offering is ip conserve mode enabled",
        ),
        out(
            "networkofferingavailability",
            FieldType.STRING,
            "availability of the network offering the network is created from",
        ),
        out("issystem", FieldType.BOOLEAN, "true if network is system, false otherwise"),
        out("state", FieldType.STRING, "state of the network"),
        out("related", FieldType.STRING, "related to what other network configuration"),
        out("dns1", FieldType.STRING, "the first DNS for the network"),
        out("dns2", FieldType.STRING, "the second DNS for the network"),
        out("type", FieldType.STRING, "the type of the network"),
        out("acltype", FieldType.STRING, "acl type - access type to the network"),
        out("account", FieldType.STRING, "the owner of the network"),
        out("domainid", FieldType.STRING, "the domain id of the network owner"),
        out("domain", FieldType.STRING, "the domain name of the network owner"),
        out("service", FieldType.LIST, "the list of services", nested=SERVICE),
        out("networkdomain", FieldType.STRING, "the network domain"),
        out("physicalnetworkid", FieldType.STRING, "the physical network id"),
        out("restartrequired", FieldType.BOOLEAN, "true network requires restart"),
        out(
            "specifyipranges",
            FieldType.BOOLEAN,
            "true if network supports specifying ip ranges, false otherwise",
        ),
        out("canusefordeploy", FieldType.BOOLEAN, "list networks available for vm deployment"),
        out("ispersistent", FieldType.BOOLEAN, "list networks that are persistent"),
        out(
            "tags",
            FieldType.LIST,
            "the list of resource tags associated with network",
            nested=RESOURCE_TAG,
        ),
        out(
            "displaynetwork",
            FieldType.BOOLEAN,
            "an optional field, whether to the display the network to the end user or not.",
        ),
        out("strechedl2subnet", FieldType.BOOLEAN, "true if network can span multiple zones"),
        out("redundantrouter", FieldType.BOOLEAN, "If the network has redundant routers enabled"),
        out("created", FieldType.DATE, "the date this network was created"),
    ),
    entity=Entity.NETWORK,
)


def offering_response(offering: NetworkOffering) -> dict[str, Any]:
    """Map an offering to CloudStack's NetworkOfferingResponse."""
    return NETWORK_OFFERING.render(
        {
            "id": offering.uuid,
            "name": offering.name,
            "displaytext": offering.display_text,
            "tags": offering.tags,
            "created": format_date(offering.created),
            "traffictype": offering.traffic_type,
            "isdefault": offering.is_default,
            "specifyvlan": offering.specify_vlan,
            "conservemode": offering.conserve_mode,
            "specifyipranges": offering.specify_ip_ranges,
            "availability": offering.availability,
            "networkrate": offering.network_rate,
            "state": offering.state.value,
            "guestiptype": offering.guest_type.value,
            # kvmcloud has no network service provider: no offering carries a service.
            "service": [],
            # CloudStack names its virtual router's system offering here, for every offering;
            # kvmcloud runs no router. Empty, not absent: Apache Libcloud reads the key
            # unconditionally (ex_list_network_offerings).
            "serviceofferingid": "",
            "forvpc": offering.for_vpc,
            "fornsx": False,
            "fortungsten": False,
            "ispersistent": offering.is_persistent,
            "egressdefaultpolicy": offering.egress_default_policy,
            "supportsstrechedl2subnet": False,
            "supportspublicaccess": False,
            "supportsinternallb": False,
            "internetprotocol": "IPv4",
            "details": {},
        }
    )


def physical_network_response(record: PhysicalNetworkRecord) -> dict[str, Any]:
    """Map a physical network to CloudStack's PhysicalNetworkResponse."""
    network = record.network
    return PHYSICAL_NETWORK.render(
        {
            "id": network.uuid,
            "name": network.name,
            "zoneid": record.zone.uuid,
            "zonename": record.zone.name,
            "state": network.state,
            "broadcastdomainrange": network.broadcast_domain_range,
            "isolationmethods": network.isolation_methods,
        }
    )


def traffic_type_response(record: TrafficTypeRecord) -> dict[str, Any]:
    """Map a traffic type to CloudStack's TrafficTypeResponse."""
    return TRAFFIC_TYPE.render(
        {
            "id": record.traffic_type.uuid,
            "traffictype": record.traffic_type.traffic_type,
            "physicalnetworkid": record.physical_network_uuid,
            "kvmnetworklabel": record.traffic_type.kvm_network_label,
        }
    )


def network_response(record: NetworkRecord) -> dict[str, Any]:
    """Map a network to CloudStack's NetworkResponse."""
    network, offering = record.network, record.offering
    netmask = str(ipaddress.IPv4Network(network.cidr).netmask) if network.cidr is not None else None
    return NETWORK.render(
        {
            "id": network.uuid,
            "name": network.name,
            "displaytext": network.display_text,
            "broadcastdomaintype": network.broadcast_domain_type,
            "traffictype": network.traffic_type,
            "gateway": network.gateway,
            "netmask": netmask,
            "cidr": network.cidr,
            "zoneid": record.zone.uuid,
            "zonename": record.zone.name,
            "networkofferingid": offering.uuid,
            "networkofferingname": offering.name,
            "networkofferingdisplaytext": offering.display_text,
            "networkofferingconservemode": offering.conserve_mode,
            "networkofferingavailability": offering.availability,
            "issystem": False,
            "state": network.state,
            "related": network.uuid,
            "dns1": record.zone.dns1,
            "dns2": record.zone.dns2,
            "type": network.guest_type.value,
            "acltype": network.acl_type,
            "account": record.account.account_name,
            "domainid": record.domain.uuid,
            "domain": record.domain.name,
            "service": [],
            "networkdomain": network.network_domain,
            "physicalnetworkid": record.physical_network.uuid,
            "restartrequired": False,
            "specifyipranges": offering.specify_ip_ranges,
            "canusefordeploy": rules.usable_for_deploy(offering.state),
            "ispersistent": offering.is_persistent,
            "tags": [],
            "displaynetwork": True,
            "strechedl2subnet": False,
            "redundantrouter": False,
            "created": format_date(network.created),
        }
    )
