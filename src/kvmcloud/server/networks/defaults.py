"""The default network offerings CloudStack ships that fit a KVM zone without SDN (pure)."""

from dataclasses import dataclass

from kvmcloud.server.networks.models import GuestType


@dataclass(frozen=True, slots=True)
class DefaultOffering:
    """A default offering: CloudStack's name, text and settings; a fixed uuid for the API."""

    id: int
    uuid: str
    name: str
    display_text: str
    guest_type: GuestType
    availability: str
    specify_vlan: bool
    specify_ip_ranges: bool


# CloudStack seeds these (with services by its VirtualRouter, which kvmcloud has not: here
# they carry none). Their uuids are random there, fixed here so every kvmcloud answers the
# same; migration 0014 wrote these rows.
DEFAULT_OFFERINGS: tuple[DefaultOffering, ...] = (
    DefaultOffering(
        1,
        "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0001",
        "DefaultL2NetworkOffering",
        "Offering for L2 networks",
        GuestType.L2,
        "Optional",
        specify_vlan=False,
        specify_ip_ranges=False,
    ),
    DefaultOffering(
        2,
        "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0002",
        "DefaultSharedNetworkOffering",
        "Offering for Shared networks",
        GuestType.SHARED,
        "Optional",
        specify_vlan=True,
        specify_ip_ranges=True,
    ),
    DefaultOffering(
        3,
        "5e0b7c0e-6a43-4c1e-9f7d-2b1d8c4e0003",
        "DefaultIsolatedNetworkOfferingWithSourceNatService",
        "Offering for Isolated networks with Source Nat service enabled",
        GuestType.ISOLATED,
        "Required",
        specify_vlan=False,
        specify_ip_ranges=False,
    ),
)
