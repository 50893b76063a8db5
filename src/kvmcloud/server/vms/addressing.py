"""choose_address(), choose_network_address(), new_mac(): a guest NIC's IP and MAC (pure)."""

import ipaddress
import random
from collections.abc import Collection
from dataclasses import dataclass

from kvmcloud.server.errors import InsufficientCapacityError

DEFAULT_GUEST_CIDR = "10.1.1.0/24"


@dataclass(frozen=True, slots=True)
class GuestAddress:
    """An address for a NIC, with its network's mask and gateway."""

    ip: str
    netmask: str
    gateway: str


def choose_address(cidr: str | None, used: Collection[str]) -> GuestAddress:
    """Return the lowest free address of the zone's guest CIDR (the first one is the gateway).

    Raises:
        InsufficientCapacityError: every address is taken.
    """
    network = ipaddress.ip_network(cidr or DEFAULT_GUEST_CIDR, strict=False)
    # hosts() is a generator for most networks but a list for /31 and /32.
    hosts = iter(network.hosts())
    gateway = next(hosts, None)
    for candidate in hosts:
        if str(candidate) not in used:
            return GuestAddress(str(candidate), str(network.netmask), str(gateway))
    raise InsufficientCapacityError(f"No free guest address left in {network}")


def choose_network_address(cidr: str, gateway: str | None, used: Collection[str]) -> GuestAddress:
    """Return the lowest free address of a guest network's CIDR, never its gateway.

    Raises:
        InsufficientCapacityError: every address is taken.
    """
    network = ipaddress.ip_network(cidr, strict=False)
    for candidate in network.hosts():
        if str(candidate) != gateway and str(candidate) not in used:
            return GuestAddress(str(candidate), str(network.netmask), gateway or "")
    raise InsufficientCapacityError(f"No free guest address left in {network}")


def new_mac(rng: random.Random) -> str:
    """Return a locally administered unicast MAC in CloudStack's 02:00:… style."""
    tail = [rng.randrange(256) for _ in range(4)]
    return "02:00:" + ":".join(f"{octet:02x}" for octet in tail)
