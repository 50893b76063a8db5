"""The metrics plugin's response objects: base objects extended with their figures (pure)."""

from collections.abc import Mapping
from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.jobs.views import MANAGEMENT_SERVER
from kvmcloud.server.metrics import figures
from kvmcloud.server.vms.views import VIRTUAL_MACHINE

VM_METRICS = VIRTUAL_MACHINE.extended(
    "VmMetricsResponse",
    out("ipaddress", FieldType.STRING, "the VM's primary IP address"),
    out("cputotal", FieldType.STRING, "the total cpu capacity in Ghz"),
    out("memorytotal", FieldType.STRING, "the total memory capacity in GiB"),
)

# A kvmcloud server collects no JVM, session or agent figures of its peers: the metrics
# object is the base object under CloudStack's class name.
MANAGEMENT_SERVER_METRICS = MANAGEMENT_SERVER.extended("ManagementServerMetricsResponse")

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


def infrastructure_response(counts: figures.InfrastructureCounts) -> dict[str, Any]:
    """Map the infrastructure counts to CloudStack's infrastructure object."""
    return INFRASTRUCTURE.render(figures.infrastructure(counts))
