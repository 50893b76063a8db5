"""The isolated libvirt network of a guest network: names from the uuid, and its XML."""

import xml.etree.ElementTree as ET

import pytest

from kvmcloud.agent.vms.errors import InvalidVmCommandError
from kvmcloud.agent.vms.guest_networks import (
    MAX_BRIDGE_CHARS,
    bridge_name,
    guest_networks,
    network_name,
    network_xml,
)
from kvmcloud.protocol.agent_messages import NicSpec

NET = "3f2a9c4e-1b7d-4e8f-9a0b-1c2d3e4f5a6b"
OTHER = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"


def nic(network: str, mac: str = "02:00:00:00:00:01") -> NicSpec:
    return NicSpec(mac_address=mac, network_uuid=network, guest_type="L2")


def test_names_come_from_the_uuid_and_the_bridge_fits_linux_limit() -> None:
    assert network_name(NET) == f"kvmcloud-{NET}"
    assert bridge_name(NET) == "kvc3f2a9c4e1b7d"
    assert len(bridge_name(NET)) == MAX_BRIDGE_CHARS == 15
    # Upper case and braces are the same uuid, so the same network and bridge.
    assert network_name("{" + NET.upper() + "}") == network_name(NET)
    assert bridge_name(NET.upper()) == bridge_name(NET)
    assert bridge_name(OTHER) != bridge_name(NET)


def test_the_network_is_isolated_a_bridge_without_forward_ip_or_dhcp() -> None:
    root = ET.fromstring(network_xml(NET))

    assert root.tag == "network"
    assert root.findtext("name") == f"kvmcloud-{NET}"
    assert root.findtext("uuid") == NET
    bridge = root.find("bridge")
    assert bridge is not None
    assert bridge.attrib == {"name": "kvc3f2a9c4e1b7d", "stp": "off", "delay": "0"}
    assert root.find("forward") is None
    assert root.find("ip") is None
    assert root.find(".//dhcp") is None


def test_each_network_is_listed_once_in_order_of_first_use() -> None:
    networks = guest_networks([nic(OTHER), nic(NET), nic(OTHER.upper())])

    assert [n.name for n in networks] == [network_name(OTHER), network_name(NET)]
    assert [n.bridge for n in networks] == [bridge_name(OTHER), bridge_name(NET)]
    assert networks[1].xml == network_xml(NET)
    assert guest_networks([]) == []


@pytest.mark.parametrize("bad", ["", "net1", "../../etc", "3f2a9c4e-1b7d-4e8f-9a0b"])
def test_a_network_uuid_that_is_not_a_uuid_is_refused(bad: str) -> None:
    with pytest.raises(InvalidVmCommandError, match="network_uuid"):
        guest_networks([nic(bad)])
    with pytest.raises(InvalidVmCommandError, match="network_uuid"):
        bridge_name(bad)
