"""The libvirt isolated network of a guest network: its names and XML, from the uuid; pure.

One libvirt network per guest network, on every host with a VM on it. It has no
``<forward>`` (isolated: no NAT, no routing to the host's networks) and no ``<ip>`` (no
host address, no DHCP, no DNS), so libvirt runs no dnsmasq and adds no firewall rules: it
makes a bridge, and the VMs' tap devices join it. Every name is derived from the guest
network's uuid, so every agent, and the same agent after a restart, finds the same network.
"""

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from kvmcloud.agent.vms.errors import InvalidVmCommandError
from kvmcloud.protocol.agent_messages import NicSpec

NETWORK_PREFIX = "kvmcloud-"
BRIDGE_PREFIX = "kvc"
# Linux refuses interface names longer than IFNAMSIZ - 1 = 15 characters.
MAX_BRIDGE_CHARS = 15
_BRIDGE_HEX_CHARS = MAX_BRIDGE_CHARS - len(BRIDGE_PREFIX)


@dataclass(frozen=True, slots=True)
class GuestNetwork:
    """A libvirt network to exist before a domain using it is defined."""

    name: str
    bridge: str
    xml: str


def canonical_network_uuid(text: str) -> str:
    """Return the uuid in its canonical form, or raise InvalidVmCommandError."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidVmCommandError(f"network_uuid {text!r} is not a UUID") from None


def network_name(network_uuid: str) -> str:
    """The libvirt network name of a guest network: ``kvmcloud-<uuid>``."""
    return NETWORK_PREFIX + canonical_network_uuid(network_uuid)


def bridge_name(network_uuid: str) -> str:
    """The bridge of a guest network: ``kvc`` and the uuid's first 12 hex digits (15 chars).

    48 random bits of a version 4 uuid: even odds of two networks sharing a bridge name
    need about 2^24 networks (birthday bound), far more than one installation holds.
    """
    hex_digits = uuid.UUID(canonical_network_uuid(network_uuid)).hex
    return BRIDGE_PREFIX + hex_digits[:_BRIDGE_HEX_CHARS]


def network_xml(network_uuid: str) -> str:
    """The persistent definition of the isolated libvirt network of a guest network.

    The libvirt network takes the guest network's uuid as its own, so ``virsh net-list
    --uuid`` and kvmcloud's ``listNetworks`` show the same id.
    """
    canonical = canonical_network_uuid(network_uuid)
    network = ET.Element("network")
    ET.SubElement(network, "name").text = network_name(canonical)
    ET.SubElement(network, "uuid").text = canonical
    # stp off, delay 0: a bridge with only tap devices has no loop to guard against, and
    # a forwarding delay would drop a guest's first packets.
    ET.SubElement(network, "bridge", name=bridge_name(canonical), stp="off", delay="0")
    return ET.tostring(network, encoding="unicode")


def guest_networks(nics: list[NicSpec]) -> list[GuestNetwork]:
    """The libvirt networks the NICs need, each once, in the order of first use.

    Raises:
        InvalidVmCommandError: a network uuid is not a UUID.
    """
    seen: dict[str, GuestNetwork] = {}
    for nic in nics:
        canonical = canonical_network_uuid(nic.network_uuid)
        if canonical not in seen:
            seen[canonical] = GuestNetwork(
                name=network_name(canonical),
                bridge=bridge_name(canonical),
                xml=network_xml(canonical),
            )
    return list(seen.values())
