"""Metrics figures from plain values, formatted as CloudStack's metrics responses (pure)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_GIB = 1024.0**3


@dataclass(frozen=True, slots=True, kw_only=True)
class HostLoad:
    """What the VMs placed on one host hold: allocated CPU and memory, and their count."""

    allocated_mhz: int = 0
    allocated_memory_bytes: int = 0
    running: int = 0
    total: int = 0


def gib(size_bytes: int) -> str:
    """Format bytes as CloudStack's metrics do: ``"1.50 GB"`` (GiB, two decimals)."""
    return f"{size_bytes / _GIB:.2f} GB"


def ghz(mhz: int) -> str:
    """Format MHz as CloudStack's host metrics do: ``"4.80 Ghz"``."""
    return f"{mhz / 1000.0:.2f} Ghz"


def percent(part: float, whole: float) -> str:
    """Format ``part`` of ``whole`` as CloudStack's ``cpuallocated``: ``"12.5%"`` (0% of 0)."""
    return f"{(100.0 * part / whole) if whole else 0.0:.2f}%"


def host_metrics(host: Mapping[str, Any], load: HostLoad) -> dict[str, Any]:
    """Return the metrics fields of a host object, from its figures and its VMs' load."""
    cpus, speed, memory = host.get("cpunumber"), host.get("cpuspeed"), host.get("memorytotal")
    fields: dict[str, Any] = {"instances": f"{load.running} / {load.total}"}
    if cpus is not None and speed is not None:
        fields["cputotalghz"] = ghz(cpus * speed)
        fields["cpuallocatedghz"] = ghz(load.allocated_mhz)
        fields["cpuallocated"] = percent(load.allocated_mhz, cpus * speed)
    if memory is not None:
        fields["memorytotalgb"] = gib(memory)
        fields["memoryallocatedgb"] = gib(load.allocated_memory_bytes)
        fields["memoryallocated"] = load.allocated_memory_bytes
    return fields


def pool_metrics(pool: Mapping[str, Any]) -> dict[str, Any]:
    """Return the metrics fields of a storagepool object, from its reported capacity."""
    total, used = pool.get("disksizetotal"), pool.get("disksizeused")
    factor = pool.get("overprovisionfactor", "1.0")
    fields: dict[str, Any] = {}
    if total is not None:
        fields["disksizetotalgb"] = f"{total / _GIB:.2f} GB (x{factor})"
    if used is not None:
        fields["disksizeusedgb"] = gib(used)
    return fields


def vm_metrics(vm: Mapping[str, Any]) -> dict[str, Any]:
    """Return the metrics fields of a virtualmachine object, from its offering and NICs."""
    fields: dict[str, Any] = {}
    nics = vm.get("nic") or []
    if nics and nics[0].get("ipaddress"):
        fields["ipaddress"] = nics[0]["ipaddress"]
    cpus, speed, memory_mib = vm.get("cpunumber"), vm.get("cpuspeed"), vm.get("memory")
    if cpus is not None and speed is not None:
        fields["cputotal"] = f"{cpus * speed / 1000.0:.1f} Ghz"
    if memory_mib is not None:
        fields["memorytotal"] = f"{memory_mib / 1024.0:.2f} GiB"
    return fields


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaLoad:
    """A zone's or cluster's hosts summed up, and how many of its parts are healthy."""

    capacity_mhz: int = 0
    capacity_memory_bytes: int = 0
    allocated_mhz: int = 0
    allocated_memory_bytes: int = 0
    healthy: int = 0
    total: int = 0


def area_metrics(state: str, parts: str, load: AreaLoad) -> dict[str, Any]:
    """Return the metrics fields of a zone or cluster (``parts``: "clusters" or "hosts")."""
    fields: dict[str, Any] = {
        "state": state,
        parts: f"{load.healthy} / {load.total}",
        "cputotal": ghz(load.capacity_mhz),
        "memorytotal": gib(load.capacity_memory_bytes),
    }
    # CloudStack leaves the shares out when there is no capacity to share.
    if load.capacity_mhz:
        fields["cpuallocated"] = percent(load.allocated_mhz, load.capacity_mhz)
    if load.capacity_memory_bytes:
        fields["memoryallocated"] = percent(load.allocated_memory_bytes, load.capacity_memory_bytes)
    return fields


@dataclass(frozen=True, slots=True, kw_only=True)
class InfrastructureCounts:
    """How many of each kind of infrastructure object exist (live ones only)."""

    zones: int
    pods: int
    clusters: int
    hosts: int
    storage_pools: int
    management_servers: int


def infrastructure(counts: InfrastructureCounts) -> dict[str, Any]:
    """Return CloudStack's infrastructure object.

    kvmcloud has no secondary storage, system VMs, routers, internal load balancers,
    object stores or alerts, so those counts are truly zero.
    """
    return {
        "zones": counts.zones,
        "pods": counts.pods,
        "clusters": counts.clusters,
        "hosts": counts.hosts,
        "storagepools": counts.storage_pools,
        "managementservers": counts.management_servers,
        "imagestores": 0,
        "objectstores": 0,
        "systemvms": 0,
        "routers": 0,
        "ilbvms": 0,
        "alerts": 0,
    }
