"""The metrics plugin's response objects: base objects extended with their figures (pure)."""

from collections.abc import Mapping
from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, ResponseField, out
from kvmcloud.server.infrastructure.views import CLUSTER, HOST, STORAGE_POOL, ZONE
from kvmcloud.server.jobs.views import MANAGEMENT_SERVER
from kvmcloud.server.metrics import figures
from kvmcloud.server.vms.views import VIRTUAL_MACHINE

_S, _L = FieldType.STRING, FieldType.LONG


def _metrics(base: ObjectSchema, name: str, *more: ResponseField) -> ObjectSchema:
    # Without the base's entity: listApis relates a uuid parameter to the commands
    # answering its object (listZones), not to those answering its metrics.
    return ObjectSchema(name, base.extended(name, *more).fields)


HOST_METRICS_FIELDS = (
    out("instances", _S, "instances on the host"),
    out("cputotalghz", _S, "the total cpu capacity in Ghz"),
    out("cpuallocatedghz", _S, "the total cpu allocated in Ghz"),
    out("cpuallocated", _S, "the amount of the host's CPU currently allocated"),
    out("memorytotalgb", _S, "the total cpu capacity in GiB"),
    out("memoryallocatedgb", _S, "the total cpu allocated in GiB"),
    out("memoryallocated", _L, "the amount of the host's memory currently allocated"),
)

STORAGE_POOL_METRICS_FIELDS = (
    out("disksizetotalgb", _S, "Disk size in GiB"),
    out("disksizeusedgb", _S, "Disk size used in GiB"),
)


def _area_metrics_fields(parts: str, parts_description: str) -> tuple[ResponseField, ...]:
    # Zones and clusters carry the same figures, over clusters or hosts.
    return (
        out("state", _S, "State of the cluster"),
        out(parts, _S, parts_description),
        out("cputotal", _S, "The total cpu capacity in Ghz"),
        out("cpuallocated", _S, "The total cpu allocated in Ghz"),
        out("memorytotal", _S, "The total cpu capacity in GiB"),
        out("memoryallocated", _S, "The total cpu allocated in GiB"),
    )


ZONE_METRICS_FIELDS = _area_metrics_fields("clusters", "Healthy / total clusters in the zone")
CLUSTER_METRICS_FIELDS = _area_metrics_fields("hosts", "Running / total hosts in the cluster")

HOST_METRICS = _metrics(HOST, "HostMetricsResponse", *HOST_METRICS_FIELDS)
STORAGE_POOL_METRICS = _metrics(
    STORAGE_POOL, "StoragePoolMetricsResponse", *STORAGE_POOL_METRICS_FIELDS
)
ZONE_METRICS = _metrics(ZONE, "ZoneMetricsResponse", *ZONE_METRICS_FIELDS)
CLUSTER_METRICS = _metrics(CLUSTER, "ClusterMetricsResponse", *CLUSTER_METRICS_FIELDS)

VM_METRICS = _metrics(
    VIRTUAL_MACHINE,
    "VmMetricsResponse",
    out("ipaddress", FieldType.STRING, "the VM's primary IP address"),
    out("cputotal", FieldType.STRING, "the total cpu capacity in Ghz"),
    out("memorytotal", FieldType.STRING, "the total memory capacity in GiB"),
)

# A kvmcloud server collects no JVM, session or agent figures of its peers: the metrics
# object is the base object under CloudStack's class name.
MANAGEMENT_SERVER_METRICS = _metrics(MANAGEMENT_SERVER, "ManagementServerMetricsResponse")

INFRASTRUCTURE = ObjectSchema(
    "InfrastructureResponse",
    (
        out("zones", FieldType.INTEGER, "Number of zones"),
        out("pods", FieldType.INTEGER, "Number of pods"),
        out("clusters", FieldType.INTEGER, "Number of clusters"),
        out("hosts", FieldType.INTEGER, "Number of hypervisor hosts"),
        out("storagepools", FieldType.INTEGER, "Number of storage pools"),
        out("imagestores", FieldType.INTEGER, "Number of images stores"),
        out("objectstores", FieldType.INTEGER, "Number of object stores"),
        out("systemvms", FieldType.INTEGER, "Number of systemvms"),
        out("routers", FieldType.INTEGER, "Number of routers"),
        out("ilbvms", FieldType.INTEGER, "Number of internal LBs"),
        out("managementservers", FieldType.INTEGER, "Number of management servers"),
        out("alerts", FieldType.INTEGER, "Number of Alerts"),
    ),
)


def vm_metrics_response(vm: Mapping[str, Any]) -> dict[str, Any]:
    """Extend a virtualmachine object with its metrics fields."""
    return VM_METRICS.render({**vm, **figures.vm_metrics(vm)})


def host_metrics_response(host: Mapping[str, Any], load: figures.HostLoad) -> dict[str, Any]:
    """Extend a host object with its capacity and what its VMs hold."""
    return HOST_METRICS.render({**host, **figures.host_metrics(host, load)})


def storage_pool_metrics_response(pool: Mapping[str, Any]) -> dict[str, Any]:
    """Extend a storagepool object with its capacity and use in GiB."""
    return STORAGE_POOL_METRICS.render({**pool, **figures.pool_metrics(pool)})


def zone_metrics_response(zone: Mapping[str, Any], load: figures.AreaLoad) -> dict[str, Any]:
    """Extend a zone object with its hosts' capacity and what VMs hold."""
    fields = figures.area_metrics(zone["allocationstate"], "clusters", load)
    return ZONE_METRICS.render({**zone, **fields})


def cluster_metrics_response(cluster: Mapping[str, Any], load: figures.AreaLoad) -> dict[str, Any]:
    """Extend a cluster object with its hosts' capacity and what VMs hold."""
    fields = figures.area_metrics(cluster["allocationstate"], "hosts", load)
    return CLUSTER_METRICS.render({**cluster, **fields})


def infrastructure_response(counts: figures.InfrastructureCounts) -> dict[str, Any]:
    """Map the infrastructure counts to CloudStack's infrastructure object."""
    return INFRASTRUCTURE.render(figures.infrastructure(counts))
