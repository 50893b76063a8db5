"""CloudStack's serviceoffering and diskoffering objects (pure)."""

from typing import Any

from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.offerings.service import GIB


def offering_response(offering: ServiceOffering) -> dict[str, Any]:
    """Map an offering to CloudStack's serviceoffering object."""
    return without_none(
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
    return without_none(
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
