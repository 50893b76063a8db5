"""Guest OS types: the built-in ones, resolving ostypeid, listing types and categories."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.db import Database
from kvmcloud.server.errors import ResourceUnavailableError
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged
from kvmcloud.server.templates.models import GuestOs, GuestOsCategory
from kvmcloud.server.templates.records import OsTypeRecord, Page

DEFAULT_OS_TYPE = "Other Linux (64-bit)"

GUEST_OS_SEED: dict[str, tuple[str, ...]] = {
    "Debian": ("Debian GNU/Linux 11 (64-bit)", "Debian GNU/Linux 12 (64-bit)"),
    "Ubuntu": ("Ubuntu 22.04 LTS", "Ubuntu 24.04 LTS"),
    "CentOS": ("CentOS 7", "Rocky Linux 9", "AlmaLinux 9"),
    "Other": ("Other Linux (64-bit)", "Other (64-bit)", "Other PV Virtio-SCSI (64-bit)"),
    "Windows": ("Windows Server 2022 (64-bit)",),
}


def seed_guest_os(session: Session) -> None:
    """Insert the built-in OS types that are missing."""
    categories = {c.name: c for c in session.scalars(select(GuestOsCategory))}
    known = set(session.scalars(select(GuestOs.display_name)))
    for category_name, names in GUEST_OS_SEED.items():
        category = categories.get(category_name)
        if category is None:
            category = GuestOsCategory(name=category_name)
            session.add(category)
            session.flush()
        for name in names:
            if name not in known:
                session.add(GuestOs(category_id=category.id, display_name=name))


def resolve_guest_os(session: Session, os_type_uuid: str | None, command: str) -> int:
    """Return the guest OS id for ``ostypeid``, defaulting to Other Linux (64-bit)."""
    if os_type_uuid:
        return get_by_uuid(session, GuestOs, os_type_uuid, command=command, param="ostypeid").id
    os_id = session.scalar(select(GuestOs.id).where(GuestOs.display_name == DEFAULT_OS_TYPE))
    if os_id is None:
        raise ResourceUnavailableError(
            f"Guest OS {DEFAULT_OS_TYPE!r} is missing; run kvmcloud-server init"
        )
    return os_id


def list_os_types(
    db: Database,
    page: PageRequest,
    *,
    uuid: str | None,
    category_uuid: str | None,
    description: str | None,
    keyword: str | None,
) -> Page[OsTypeRecord]:
    """List guest OS types with their categories, by id."""
    with db.transaction() as session:
        query = (
            select(GuestOs, GuestOsCategory)
            .join(GuestOsCategory, GuestOs.category_id == GuestOsCategory.id)
            .order_by(GuestOs.id)
        )
        if uuid:
            query = query.where(GuestOs.uuid == uuid)
        if category_uuid:
            query = query.where(GuestOsCategory.uuid == category_uuid)
        if description:
            query = query.where(GuestOs.display_name == description)
        if keyword:
            query = query.where(GuestOs.display_name.contains(keyword))
        window = list_window(session, page)
        rows = list(session.execute(query))
        end = None if window.limit is None else window.offset + window.limit
        items = [OsTypeRecord(os, category) for os, category in rows[window.offset : end]]
        return Page(items, len(rows))


def list_os_categories(
    db: Database, page: PageRequest, *, uuid: str | None, name: str | None
) -> Page[GuestOsCategory]:
    """List guest OS categories, by id."""
    with db.transaction() as session:
        query = select(GuestOsCategory).order_by(GuestOsCategory.id)
        if uuid:
            query = query.where(GuestOsCategory.uuid == uuid)
        if name:
            query = query.where(GuestOsCategory.name == name)
        categories, total = paged(session, query, list_window(session, page))
        return Page(categories, total)
