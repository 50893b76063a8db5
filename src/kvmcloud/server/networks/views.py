"""CloudStack's networkoffering, physicalnetwork, traffictype and network objects (pure)."""

import ipaddress
from typing import Any

from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.networks import rules
from kvmcloud.server.networks.models import NetworkOffering
from kvmcloud.server.networks.physical import PhysicalNetworkRecord, TrafficTypeRecord
from kvmcloud.server.networks.service import NetworkRecord


def offering_response(offering: NetworkOffering) -> dict[str, Any]:
    """Map an offering to CloudStack's NetworkOfferingResponse."""
    return without_none(
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
    return without_none(
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
    return without_none(
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
    return without_none(
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
