"""createServiceOffering, listServiceOfferings, createDiskOffering, listDiskOfferings."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult, format_date, without_none
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.queries import list_window, paged

commands = CommandSet()
GIB = 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateServiceOfferingParams:
    """Parameters of createServiceOffering."""

    name: str = param("the name of the service offering")
    display_text: str | None = param(
        "the display text of the service offering", length=4096, default=None
    )
    cpu_number: int = param("the number of CPUs")
    cpu_speed: int = param("the CPU speed of the service offering in MHz")
    memory: int = param("the total memory of the service offering in MB")
    storage_type: str | None = param(
        "the storage type of the service offering: local or shared", default=None
    )
    tags: str | None = param("the tags for this service offering", default=None)
    offer_ha: bool | None = param("the HA for the service offering", default=None)
    limit_cpu_use: bool | None = param(
        "restrict the CPU usage to committed service offering", default=None
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ListServiceOfferingsParams(ListParams):
    """Parameters of listServiceOfferings."""

    id: Uuid | None = param("ID of the service offering", default=None)
    name: str | None = param("name of the service offering", default=None)


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
            "tags": offering.tags,
            "offerha": offering.ha_enabled,
            "limitcpuuse": offering.limit_cpu_use,
            "isvolatile": False,
            "iscustomized": False,
            "issystem": False,
            "defaultuse": False,
            "created": format_date(offering.created),
        }
    )


@commands.command(
    "createServiceOffering",
    CreateServiceOfferingParams,
    description="Creates a service offering.",
    response_key="serviceoffering",
    admin_only=True,
)
def create_service_offering(ctx: ApiContext, params: CreateServiceOfferingParams) -> ObjectResult:
    """Create a service offering."""
    for name, value, low in (
        ("cpunumber", params.cpu_number, 1),
        ("cpuspeed", params.cpu_speed, 1),
        ("memory", params.memory, 32),
    ):
        if value < low:
            raise InvalidParameterError(name, f"{name} must be at least {low}")
    storage_type = (params.storage_type or "shared").lower()
    if storage_type not in ("shared", "local"):
        raise InvalidParameterError("storagetype", "storagetype must be local or shared")
    with ctx.db.transaction() as session:
        offering = ServiceOffering(
            name=params.name,
            display_text=params.display_text or params.name,
            cpu=params.cpu_number,
            speed=params.cpu_speed,
            ram_size=params.memory,
            storage_type=storage_type,
            tags=params.tags,
            ha_enabled=bool(params.offer_ha),
            limit_cpu_use=bool(params.limit_cpu_use),
            created=ctx.clock(),
        )
        session.add(offering)
        session.flush()
        return ObjectResult("serviceoffering", offering_response(offering))


@commands.command(
    "listServiceOfferings",
    ListServiceOfferingsParams,
    description="Lists all available service offerings.",
    response_key="serviceoffering",
)
def list_service_offerings(ctx: ApiContext, params: ListServiceOfferingsParams) -> ListResult:
    """List service offerings."""
    with ctx.db.transaction() as session:
        query = (
            select(ServiceOffering)
            .where(ServiceOffering.removed.is_(None))
            .order_by(ServiceOffering.id)
        )
        if params.id:
            query = query.where(ServiceOffering.uuid == params.id)
        if params.name:
            query = query.where(ServiceOffering.name == params.name)
        if params.keyword:
            query = query.where(ServiceOffering.name.contains(params.keyword))
        window = list_window(session, params)
        offerings, total = paged(session, query, window)
        return ListResult("serviceoffering", [offering_response(o) for o in offerings], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateDiskOfferingParams:
    """Parameters of createDiskOffering."""

    name: str = param("name of the disk offering")
    display_text: str | None = param(
        "an alternate display text of the disk offering", length=4096, default=None
    )
    disk_size: int = param("size of the disk offering in GB (1GB = 1,073,741,824 bytes)")
    storage_type: str | None = param(
        "the storage type of the disk offering: local or shared", default=None
    )
    tags: str | None = param("tags for the storage pool", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDiskOfferingsParams(ListParams):
    """Parameters of listDiskOfferings."""

    id: Uuid | None = param("ID of the disk offering", default=None)
    name: str | None = param("name of the disk offering", default=None)


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


@commands.command(
    "createDiskOffering",
    CreateDiskOfferingParams,
    description="Creates a disk offering.",
    response_key="diskoffering",
    admin_only=True,
)
def create_disk_offering(ctx: ApiContext, params: CreateDiskOfferingParams) -> ObjectResult:
    """Create a disk offering (the size of a blank disk)."""
    if params.disk_size < 1:
        raise InvalidParameterError("disksize", "disksize must be at least 1 (GB)")
    storage_type = (params.storage_type or "shared").lower()
    if storage_type not in ("shared", "local"):
        raise InvalidParameterError("storagetype", "storagetype must be local or shared")
    with ctx.db.transaction() as session:
        offering = DiskOffering(
            name=params.name,
            display_text=params.display_text or params.name,
            disk_size=params.disk_size * GIB,
            storage_type=storage_type,
            tags=params.tags,
            created=ctx.clock(),
        )
        session.add(offering)
        session.flush()
        return ObjectResult("diskoffering", disk_offering_response(offering))


@commands.command(
    "listDiskOfferings",
    ListDiskOfferingsParams,
    description="Lists all available disk offerings.",
    response_key="diskoffering",
)
def list_disk_offerings(ctx: ApiContext, params: ListDiskOfferingsParams) -> ListResult:
    """List disk offerings."""
    with ctx.db.transaction() as session:
        query = select(DiskOffering).where(DiskOffering.removed.is_(None)).order_by(DiskOffering.id)
        if params.id:
            query = query.where(DiskOffering.uuid == params.id)
        if params.name:
            query = query.where(DiskOffering.name == params.name)
        if params.keyword:
            query = query.where(DiskOffering.name.contains(params.keyword))
        window = list_window(session, params)
        offerings, total = paged(session, query, window)
        return ListResult("diskoffering", [disk_offering_response(o) for o in offerings], total)
