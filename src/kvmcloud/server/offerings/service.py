"""Create service and disk offerings, and list them one page at a time."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select

from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import list_window, paged

GIB = 1024**3
Offering = TypeVar("Offering", ServiceOffering, DiskOffering)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceOfferingSpec:
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
class DiskOfferingSpec:
    """What createDiskOffering asks for, as given; the size is in GiB."""

    name: str
    display_text: str | None
    disk_size_gib: int
    storage_type: str | None
    tags: str | None


def create_service_offering(
    db: Database, spec: ServiceOfferingSpec, clock: Callable[[], datetime]
) -> ServiceOffering:
    """Check and store a service offering (the API declares the numbers' ranges).

    Raises:
        InvalidParameterError: an unknown storage type.
    """
    storage_type = _storage_type(spec.storage_type)
    with db.transaction() as session:
        offering = ServiceOffering(
            name=spec.name,
            display_text=spec.display_text or spec.name,
            cpu=spec.cpu_number,
            speed=spec.cpu_speed,
            ram_size=spec.memory_mb,
            storage_type=storage_type,
            tags=spec.tags,
            ha_enabled=spec.offer_ha,
            limit_cpu_use=spec.limit_cpu_use,
            created=clock(),
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
    return _list_live(db, ServiceOffering, page, uuid=uuid, name=name, keyword=keyword)


def create_disk_offering(
    db: Database, spec: DiskOfferingSpec, clock: Callable[[], datetime]
) -> DiskOffering:
    """Check and store a disk offering (the size of a blank disk; the API declares its range).

    Raises:
        InvalidParameterError: an unknown storage type.
    """
    storage_type = _storage_type(spec.storage_type)
    with db.transaction() as session:
        offering = DiskOffering(
            name=spec.name,
            display_text=spec.display_text or spec.name,
            disk_size=spec.disk_size_gib * GIB,
            storage_type=storage_type,
            tags=spec.tags,
            created=clock(),
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
    return _list_live(db, DiskOffering, page, uuid=uuid, name=name, keyword=keyword)


def _list_live(
    db: Database,
    model: type[Offering],
    page: PageRequest,
    *,
    uuid: str | None,
    name: str | None,
    keyword: str | None,
) -> tuple[list[Offering], int]:
    query = select(model).where(model.removed.is_(None))
    if uuid:
        query = query.where(model.uuid == uuid)
    if name:
        query = query.where(model.name == name)
    if keyword:
        query = query.where(model.name.contains(keyword))
    with db.transaction() as session:
        return paged(session, query.order_by(model.id), list_window(session, page))


def _storage_type(text: str | None) -> str:
    storage_type = (text or "shared").lower()
    if storage_type not in ("shared", "local"):
        raise InvalidParameterError("storagetype", "storagetype must be local or shared")
    return storage_type
