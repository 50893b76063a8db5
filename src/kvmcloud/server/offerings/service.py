"""Create, update and delete service and disk offerings; list them one page at a time."""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.hooks import TagHolder
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.offerings.tags import clean_tags, has_all, tag_set
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged

GIB = 1024**3
Offering = TypeVar("Offering", ServiceOffering, DiskOffering)
# The pools holding an offering's active volumes (session, "service" or "disk", offering
# id), and the hosts running its active VMs (session, offering id): see hooks.py.
VolumePools = Callable[[Session, str, int], list[TagHolder]]
VmHosts = Callable[[Session, int], list[TagHolder]]


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
    host_tags: str | None
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
            tags=clean_tags(spec.tags),
            host_tags=clean_tags(spec.host_tags),
            ha_enabled=spec.offer_ha,
            limit_cpu_use=spec.limit_cpu_use,
            created=clock(),
        )
        session.add(offering)
        session.flush()
        return offering


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferingChanges:
    """What updateServiceOffering or updateDiskOffering asks to change; None keeps a value.

    ``storage_tags`` is a service offering's ``storagetags`` or a disk offering's ``tags``;
    ``host_tags`` only applies to service offerings. An empty text clears the tags.
    """

    name: str | None = None
    display_text: str | None = None
    sort_key: int | None = None
    host_tags: str | None = None
    storage_tags: str | None = None


def update_service_offering(
    db: Database,
    uuid: str,
    changes: OfferingChanges,
    *,
    command: str,
    volume_pools: VolumePools,
    vm_hosts: VmHosts,
) -> ServiceOffering:
    """Change a live service offering's names, sort key or tags.

    New tags apply to placements from now on. As in CloudStack, new host tags must be on
    every host running an active VM of the offering, and new storage tags on every pool
    holding a root disk of its VMs; empty tags clear them without a check.

    Raises:
        NotFoundError: no live offering has this id.
        InvalidParameterError: a host or pool in use lacks a new tag (CloudStack's text).
    """
    with db.transaction() as session:
        offering = get_by_uuid(session, ServiceOffering, uuid, command=command, param="id")
        _apply_common(offering, changes)
        if changes.host_tags is not None:
            host_tags = clean_tags(changes.host_tags)
            if host_tags is not None:
                _check_hosts(offering, host_tags, vm_hosts(session, offering.id))
            offering.host_tags = host_tags
        if changes.storage_tags is not None:
            storage_tags = clean_tags(changes.storage_tags)
            if storage_tags is not None:
                pools = volume_pools(session, "service", offering.id)
                _check_pools(offering, storage_tags, pools)
            offering.tags = storage_tags
        session.flush()
        return offering


def delete_service_offering(
    db: Database, uuid: str, clock: Callable[[], datetime], *, command: str
) -> None:
    """Mark a service offering removed, as CloudStack does, even while VMs use it.

    It leaves the lists and new deploys refuse it; VMs that use it keep it and its name.

    Raises:
        NotFoundError: no live offering has this id.
    """
    with db.transaction() as session:
        offering = get_by_uuid(session, ServiceOffering, uuid, command=command, param="id")
        offering.removed = clock()


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
            tags=clean_tags(spec.tags),
            created=clock(),
        )
        session.add(offering)
        session.flush()
        return offering


def update_disk_offering(
    db: Database,
    uuid: str,
    changes: OfferingChanges,
    *,
    command: str,
    volume_pools: VolumePools,
) -> DiskOffering:
    """Change a live disk offering's names, sort key or storage tags.

    New storage tags must be on every pool holding an active volume of the offering, as in
    CloudStack; empty tags clear them.

    Raises:
        NotFoundError: no live offering has this id.
        InvalidParameterError: a pool in use lacks a new tag (CloudStack's text).
    """
    with db.transaction() as session:
        offering = get_by_uuid(session, DiskOffering, uuid, command=command, param="id")
        _apply_common(offering, changes)
        if changes.storage_tags is not None:
            storage_tags = clean_tags(changes.storage_tags)
            if storage_tags is not None:
                _check_pools(offering, storage_tags, volume_pools(session, "disk", offering.id))
            offering.tags = storage_tags
        session.flush()
        return offering


def delete_disk_offering(
    db: Database, uuid: str, clock: Callable[[], datetime], *, command: str
) -> None:
    """Mark a disk offering removed, as CloudStack does, even while volumes use it.

    Raises:
        NotFoundError: no live offering has this id.
    """
    with db.transaction() as session:
        offering = get_by_uuid(session, DiskOffering, uuid, command=command, param="id")
        offering.removed = clock()


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
        # CloudStack's default sortkey.algorithm (false): the highest sort key first.
        ordered = query.order_by(model.sort_key.desc(), model.id)
        return paged(session, ordered, list_window(session, page))


def _check_pools(
    offering: ServiceOffering | DiskOffering, tags: str, pools: Sequence[TagHolder]
) -> None:
    required = tag_set(tags)
    for pool in pools:
        if not has_all(required, tag_set(pool.tags)):
            volumes = [user for holder in pools for user in holder.users]
            # CloudStack's wording, with its JSON renderings of offering, pool and volumes.
            raise InvalidParameterError(
                "tags",
                f"There are active volumes using the disk offering {_named(offering)}, and "
                f"the pool {_named(pool)} doesn't have the new tags. The following volumes "
                f"are using the mentioned disk offering {_all_named(volumes)}. Please first "
                "add the new tags to the mentioned storage pools before adding them to the "
                "disk offering.",
            )


def _check_hosts(offering: ServiceOffering, tags: str, hosts: Sequence[TagHolder]) -> None:
    required = tag_set(tags)
    if any(not has_all(required, tag_set(host.tags)) for host in hosts):
        # Named by "tags", a word of CloudStack's text, so the text is shown as is.
        raise InvalidParameterError(
            "tags",
            f"There are active VMs using offering [{_named(offering)}], and the hosts "
            f"[{_all_named([(h.name, h.uuid) for h in hosts])}] don't have the new tags",
        )


def _named(item: ServiceOffering | DiskOffering | TagHolder) -> str:
    return json.dumps({"name": item.name, "uuid": item.uuid}, separators=(",", ":"))


def _all_named(items: Sequence[tuple[str, str]]) -> str:
    rendered = (json.dumps({"name": n, "uuid": u}, separators=(",", ":")) for n, u in items)
    return f"[{','.join(rendered)}]"


def _apply_common(offering: ServiceOffering | DiskOffering, changes: OfferingChanges) -> None:
    if changes.name is not None:
        offering.name = changes.name
    if changes.display_text is not None:
        offering.display_text = changes.display_text
    if changes.sort_key is not None:
        offering.sort_key = changes.sort_key


def _storage_type(text: str | None) -> str:
    storage_type = (text or "shared").lower()
    if storage_type not in ("shared", "local"):
        raise InvalidParameterError("storagetype", "storagetype must be local or shared")
    return storage_type
