"""What createNetworkOffering, createNetwork and deploy on a network accept (pure)."""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from kvmcloud.server.errors import InvalidParameterError, PermissionDeniedError, shown
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.networks.models import GuestType, Network, OfferingState

# CloudStack's Network.Service names; kvmcloud provides none of them yet.
CLOUDSTACK_SERVICES = (
    "Vpn",
    "Dhcp",
    "Dns",
    "Firewall",
    "Lb",
    "UserData",
    "SourceNat",
    "StaticNat",
    "PortForwarding",
    "SecurityGroup",
    "NetworkACL",
    "Connectivity",
)
# CloudStack's TrafficType names; offerings are for Guest traffic only, as there.
TRAFFIC_TYPES = ("Public", "Guest", "Storage", "Management", "Control", "Vlan")
AVAILABILITIES = ("Required", "Optional")
DEFAULT_GUEST_CIDR = "10.1.1.0/24"


def guest_type_of(text: str) -> GuestType:
    """The guest type named (any case), as CloudStack matches it.

    Raises:
        InvalidParameterError: no such type, with CloudStack's text (431).
    """
    for guest_type in GuestType:
        if guest_type.value.lower() == text.lower():
            return guest_type
    raise InvalidParameterError(
        "guestiptype", 'Invalid "type" parameter is given; can have Shared and Isolated values'
    )


def check_traffic_type(text: str) -> str:
    """Return "Guest" for a guest traffic type (any case).

    Raises:
        InvalidParameterError: an unknown type, or one other than Guest (CloudStack's texts).
    """
    known = next((t for t in TRAFFIC_TYPES if t.lower() == text.lower()), None)
    if known is None:
        raise InvalidParameterError(
            "traffictype",
            "Invalid value for traffictype. Supported traffic types: "
            "Public, Management, Control, Guest, Vlan or Storage",
        )
    if known != "Guest":
        raise InvalidParameterError(
            "traffictype", "Only traffic type Guest is supported in the current release"
        )
    return known


def availability_of(text: str | None) -> str:
    """The availability named (Optional when not given).

    Raises:
        InvalidParameterError: neither Required nor Optional (CloudStack's text).
    """
    if text is None:
        return "Optional"
    known = next((a for a in AVAILABILITIES if a.lower() == text.lower()), None)
    if known is None:
        raise InvalidParameterError(
            "availability", "Invalid value for Availability. Supported types: Required, Optional"
        )
    return known


def check_services(services: Sequence[str], providers: Sequence[str]) -> None:
    """Refuse services: CloudStack's names are checked, but kvmcloud has no provider for any.

    Raises:
        InvalidParameterError: an unknown service (CloudStack's text), or any service or
            provider at all, since no network element of kvmcloud would deliver it.
    """
    for name in services:
        if name not in CLOUDSTACK_SERVICES:
            raise InvalidParameterError("supportedservices", f"Invalid service {shown(name)}")
    if services:
        raise InvalidParameterError(
            "supportedservices",
            f"kvmcloud has no network service provider for {', '.join(services)}: "
            "network offerings carry no services yet",
        )
    if providers:
        raise InvalidParameterError(
            "serviceproviderlist",
            "kvmcloud has no network service providers: serviceproviderlist must be empty",
        )


@dataclass(frozen=True, slots=True)
class GuestRange:
    """A guest network's gateway and CIDR (both None for an L2 network)."""

    gateway: str | None
    cidr: str | None


def guest_range(
    guest_type: GuestType, gateway: str | None, netmask: str | None, zone_cidr: str | None
) -> GuestRange:
    """The addresses of a new guest network of ``guest_type``.

    L2 networks have none; Shared ones need gateway and netmask; Isolated ones take them
    when given, else the zone's guest CIDR with its first address as gateway, as CloudStack
    gives source-NAT isolated networks.

    Raises:
        InvalidParameterError: addresses for L2, missing ones for Shared, only one of the
            two, an invalid gateway or netmask, or a gateway that is the network's own
            address or its broadcast.
    """
    if guest_type is GuestType.L2:
        if gateway or netmask:
            raise InvalidParameterError(
                "gateway", "L2 networks have no IP addressing: gateway and netmask are not taken"
            )
        return GuestRange(None, None)
    if not gateway and not netmask:
        if guest_type is GuestType.SHARED:
            raise InvalidParameterError(
                "gateway", "Gateway/netmask are required when creating Shared networks."
            )
        network = ipaddress.ip_network(zone_cidr or DEFAULT_GUEST_CIDR, strict=False)
        return GuestRange(str(network.network_address + 1), str(network))
    if not gateway or not netmask:
        raise InvalidParameterError(
            "gateway" if not gateway else "netmask",
            "gateway and netmask must be given together",
        )
    try:
        address = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise InvalidParameterError("gateway", "Invalid gateway") from None
    try:
        network = ipaddress.IPv4Network(f"{gateway}/{netmask}", strict=False)
    except ValueError:
        raise InvalidParameterError("netmask", "Invalid netmask") from None
    if network.prefixlen > 30 or address in (network.network_address, network.broadcast_address):
        raise InvalidParameterError(
            "gateway",
            f"gateway {address} must be a host address of {network}, a network of at least "
            "4 addresses",
        )
    return GuestRange(str(address), str(network))


def check_unique_networks(uuids: Sequence[str]) -> None:
    """Refuse a networkids list naming a network twice (one NIC per network).

    Raises:
        InvalidParameterError: the first repeated id (431).
    """
    seen: set[str] = set()
    for uuid in uuids:
        if uuid in seen:
            raise InvalidParameterError(
                "networkids", f"Network id={uuid} is given more than once in networkids"
            )
        seen.add(uuid)


def usable_for_deploy(offering_state: OfferingState) -> bool:
    """Whether a live network takes new NICs: its offering is Enabled (canusefordeploy)."""
    return offering_state is OfferingState.ENABLED


def check_deploy_network(
    network: Network, offering_state: OfferingState, *, owner_account_id: int, zone: Zone
) -> None:
    """Check a VM of ``owner_account_id`` in ``zone`` may have a NIC on ``network``.

    Its own account's networks and the Shared networks are usable, as in CloudStack's
    NetworkModel.checkNetworkPermissions for an account; the texts are CloudStack's.

    Raises:
        PermissionDeniedError: another account's Isolated or L2 network (531).
        InvalidParameterError: a network of another zone, or of a disabled offering (431).
    """
    if network.guest_type is not GuestType.SHARED and network.account_id != owner_account_id:
        raise PermissionDeniedError(
            f"Unable to use network with id= {network.uuid}, permission denied"
        )
    if not usable_for_deploy(offering_state):
        raise InvalidParameterError(
            "networkids",
            f"Network id={network.uuid} can't be used for vm deployment: "
            "its network offering is not in Enabled state",
        )
    if network.data_center_id != zone.id:
        raise InvalidParameterError(
            "networkids", f"Network id={network.uuid} doesn't belong to zone {zone.uuid}"
        )
