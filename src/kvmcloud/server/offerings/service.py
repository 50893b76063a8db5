"""Create service and disk offerings, and list them one page at a time."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import list_window, paged

GIB = 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class NewServiceOffering:
    """What createServiceOffering asks for, as given."""

    name: str
    display_text: str | None
    cpu_number: int
    cpu_speed: int
    memory_mb: int
    storage_type: str | None
    tags: str | None
    offer_ha: bool
    limit_cpu_use: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDiskOffering:
    """What createDiskOffering asks for, as given; the size is in GiB."""

    name: str
    display_text: str | None
    disk_size_gib: int
    storage_type: str | None
    tags: str | None


def create_service_offering(
    db: Database, request: NewServiceOffering, now: datetime
) -> ServiceOffering:
    """Check and store a service offering.

    Raises:
        InvalidParameterError: too few CPUs, MHz or MB, or an unknown storage type.
    """
    for name, value, low in (
        ("cpunumber", request.cpu_number, 1),
        ("cpuspeed", request.cpu_speed, 1),
        ("memory", request.memory_mb, 32),
    ):
        if value < low:
            raise InvalidParameterError(name, f"{name} must be at least {low}")
    storage_type = _storage_type(request.storage_type)
    with db.transaction() as session:
        offering = ServiceOffering(
            name=request.name,
            display_text=request.display_text or request.name,
            cpu=request.cpu_number,
            speed=request.cpu_speed,
            ram_size=request.memory_mb,
            storage_type=storage_type,
            tags=request.tags,
            ha_enabled=request.offer_ha,
            limit_cpu_use=request.limit_cpu_use,
            created=now,
        )
        session.add(offering)
        session.flush()
        return offering


def list_service_offerings(
    db: Database,
    page: PageRequest,
    *,
    uuid: str | None,
    name: str | None,
    keyword: str | None,
) -> tuple[list[ServiceOffering], int]:
    """Return one page of live service offerings, oldest first, and the total."""
    query = select(ServiceOffering).where(ServiceOffering.removed.is_(None))
    if uuid:
        query = query.where(ServiceOffering.uuid == uuid)
    if name:
        query = query.where(ServiceOffering.name == name)
    if keyword:
        query = query.where(ServiceOffering.name.contains(keyword))
    with db.transaction() as session:
        return paged(session, query.order_by(ServiceOffering.id), list_window(session, page))


def create_disk_offering(db: Database, request: NewDiskOffering, now: datetime) -> DiskOffering:
    """Check and store a disk offering (the size of a blank disk).

    Raises:
        InvalidParameterError: a size under 1 GiB, or an unknown storage type.
    """
    if request.disk_size_gib < 1:
        raise InvalidParameterError("disksize", "disksize must be at least 1 (GB)")
    storage_type = _storage_type(request.storage_type)
    with db.transaction() as session:
        offering = DiskOffering(
            name=request.name,
            display_text=request.display_text or request.name,
            disk_size=request.disk_size_gib * GIB,
            storage_type=storage_type,
            tags=request.tags,
            created=now,
        )
        session.add(offering)
        session.flush()
        return offering


def list_disk_offerings(
    db: Database,
    page: PageRequest,
    *,
    uuid: str | None,
    name: str | None,
    keyword: str | None,
) -> tuple[list[DiskOffering], int]:
    """Return one page of live disk offerings, oldest first, and the total."""
    query = select(DiskOffering).where(DiskOffering.removed.is_(None))
    if uuid:
        query = query.where(DiskOffering.uuid == uuid)
    if name:
        query = query.where(DiskOffering.name == name)
    if keyword:
        query = query.where(DiskOffering.name.contains(keyword))
    with db.transaction() as session:
        return paged(session, query.order_by(DiskOffering.id), list_window(session, page))


def _storage_type(text: str | None) -> str:
    storage_type = (text or "shared").lower()
    if storage_type not in ("shared", "local"):
        raise InvalidParameterError("storagetype", "storagetype must be local or shared")
    return storage_type
