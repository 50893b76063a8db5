"""CloudStack's serviceoffering and diskoffering objects (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.offerings.service import GIB

SERVICE_OFFERING = ObjectSchema(
    "ServiceOfferingResponse",
    (
        out("id", FieldType.STRING, "the id of the service offering"),
        out("name", FieldType.STRING, "the name of the service offering"),
        out("displaytext", FieldType.STRING, "an alternate display text of the service offering."),
        out("cpunumber", FieldType.INTEGER, "the number of CPU"),
        out("cpuspeed", FieldType.INTEGER, "the clock rate CPU speed in Mhz"),
        out("memory", FieldType.INTEGER, "the memory in MB"),
        out("storagetype", FieldType.STRING, "the storage type for this service offering"),
        out("storagetags", FieldType.STRING, "the tags for the service offering"),
        out("hosttags", FieldType.STRING, "the host tag for the service offering"),
        out("offerha", FieldType.BOOLEAN, "the ha support in the service offering"),
        out(
            "limitcpuuse", FieldType.BOOLEAN, "restrict the CPU usage to committed service offering"
        ),
        out(
            "isvolatile",
            FieldType.BOOLEAN,
            "true if the vm needs to be volatile, i.e., on every reboot of vm from API root disk "
            "is discarded and creates a new root disk",
        ),
        out("iscustomized", FieldType.BOOLEAN, "is true if the offering is customized"),
        out("issystem", FieldType.BOOLEAN, "is this a system vm offering"),
        out("defaultuse", FieldType.BOOLEAN, "is this a  default system vm offering"),
        out("created", FieldType.DATE, "the date this service offering was created"),
    ),
    entity=Entity.SERVICE_OFFERING,
)

DISK_OFFERING = ObjectSchema(
    "DiskOfferingResponse",
    (
        out("id", FieldType.STRING, "unique ID of the disk offering"),
        out("name", FieldType.STRING, "the name of the disk offering"),
        out("displaytext", FieldType.STRING, "an alternate display text of the disk offering."),
        out("disksize", FieldType.LONG, "the size of the disk offering in GB"),
        out("storagetype", FieldType.STRING, "the storage type for this disk offering"),
        out("tags", FieldType.STRING, "the tags for the disk offering"),
        out(
            "iscustomized",
            FieldType.BOOLEAN,
            "true if disk offering uses custom size, false otherwise",
        ),
        out("created", FieldType.DATE, "the date this disk offering was created"),
    ),
    entity=Entity.DISK_OFFERING,
)


def offering_response(offering: ServiceOffering) -> dict[str, Any]:
    """Map an offering to CloudStack's serviceoffering object."""
    return SERVICE_OFFERING.render(
        {
            "id": offering.uuid,
            "name": offering.name,
            "displaytext": offering.display_text,
            "cpunumber": offering.cpu,
            "cpuspeed": offering.speed,
            "memory": offering.ram_size,
            "storagetype": offering.storage_type,
            "storagetags": offering.tags,
            "hosttags": offering.host_tags,
            "offerha": offering.ha_enabled,
            "limitcpuuse": offering.limit_cpu_use,
            "isvolatile": False,
            "iscustomized": False,
            "issystem": False,
            "defaultuse": False,
            "created": format_date(offering.created),
        }
    )


def disk_offering_response(offering: DiskOffering) -> dict[str, Any]:
    """Map a disk offering to CloudStack's diskoffering object."""
    return DISK_OFFERING.render(
        {
            "id": offering.uuid,
            "name": offering.name,
            "displaytext": offering.display_text,
            "disksize": offering.disk_size // GIB,
            "storagetype": offering.storage_type,
            "tags": offering.tags,
            "iscustomized": False,
            "created": format_date(offering.created),
        }
    )
