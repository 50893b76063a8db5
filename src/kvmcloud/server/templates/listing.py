"""Reading templates and ISOs for responses: listTemplates/listIsos pages and their records."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, exists, false, func, select, true
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.access import check_may_launch
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.accounts.owners import owned_by, owner_path_for, scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.db import Database
from kvmcloud.server.errors import NotFoundError
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, keep, list_window, rows_by_id, table_columns
from kvmcloud.server.templates.models import (
    GuestOs,
    ImageFormat,
    LaunchPermission,
    Template,
    TemplateDetail,
    TemplatePoolRef,
    TemplateZoneRef,
)
from kvmcloud.server.templates.records import (
    Page,
    ShownCopy,
    ShownDetail,
    ShownTemplate,
    TemplateRecord,
)

M = TypeVar("M")


# The columns of plain-row reads, in the order of the tuples they fill.
_TEMPLATE_COLUMNS = table_columns(Template, ShownTemplate._fields)
_ZONE_ID = table_columns(TemplateZoneRef, ("zone_id",))[0]
_DETAIL_COLUMNS = table_columns(TemplateDetail, ShownDetail._fields)
_COPY_COLUMNS = (
    *table_columns(TemplatePoolRef, ShownCopy._fields[: ShownCopy._fields.index("pool_name")]),
    *table_columns(StoragePool, ("name", "uuid", "data_center_id")),
    *table_columns(Host, ("uuid", "name")),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateQuery:
    """What a listTemplates or listIsos call asks for."""

    isos: bool
    filter_name: str
    owners: OwnerFilter = field(default_factory=OwnerFilter)
    uuid: str | None = None
    name: str | None = None
    keyword: str | None = None
    zone_uuid: str | None = None
    hypervisor: str | None = None
    # kvmcloud: only the images with a copy on this pool, showing that copy only.
    pool_uuid: str | None = None
    # listIsos only: applied to the page, after paging.
    bootable: bool | None = None
    public: bool | None = None


def list_templates(
    db: Database, caller: Caller, page: PageRequest, query: TemplateQuery, *, command: str
) -> Page[TemplateRecord]:
    """List the templates or ISOs the caller may see: one record per (template, zone)."""
    with db.transaction() as session:
        if query.hypervisor and query.hypervisor.upper() != "KVM":
            return Page([], 0)
        zone_id = None
        # The zones the filters load already: the page's records need not read them again.
        known_zones: dict[int, Zone] = {}
        if query.zone_uuid:
            zone = get_by_uuid(session, Zone, query.zone_uuid, command=command, param="zoneid")
            zone_id = zone.id
            known_zones[zone.id] = zone
        pool = None
        if query.pool_uuid:
            pool, pool_zone = _pool_and_zone(session, query.pool_uuid, command=command)
            known_zones[pool_zone.id] = pool_zone
        if query.uuid and not caller.is_admin:
            _check_listed_image(session, caller, query.uuid, isos=query.isos)
        # CloudStack lists every account's images for templatefilter=all, as for listall.
        owners = query.owners
        if query.filter_name == "all":
            owners = replace(owners, list_all=True)
        scope = scope_of(session, caller, owners, command=command, by_id=query.uuid is not None)
        select_rows = filtered_templates(
            isos=query.isos,
            filter_name=query.filter_name,
            owned=owned_by(scope, Template.account_id),
            shared=_shared_with(scope.account_id),
            template_uuid=query.uuid,
            name=query.name,
            keyword=query.keyword,
            zone_id=zone_id,
        )
        if pool is not None:
            select_rows = on_pool(select_rows, pool)
        window = list_window(session, page)
        count = select(func.count()).select_from(select_rows.order_by(None).subquery())
        total = session.scalar(count)
        # Plain rows, not ORM objects: the page only reads them.
        page_rows = select_rows.with_only_columns(*_TEMPLATE_COLUMNS, _ZONE_ID)
        rows = session.execute(page_rows.offset(window.offset).limit(window.limit))
        records = template_records(
            session,
            [(ShownTemplate._make(row[:-1]), row[-1]) for row in rows],
            pool_id=pool.id if pool is not None else None,
            zones=known_zones,
        )
    if query.bootable is None and query.public is None:
        return Page(records, total or 0)
    # CloudStack filters these after paging: the count is what is left of the page.
    kept = [
        r
        for r in records
        if (query.bootable is None or r.template.bootable == query.bootable)
        and (query.public is None or r.template.public == query.public)
    ]
    return Page(kept, len(kept))


def _pool_and_zone(session: Session, uuid: str, *, command: str) -> tuple[StoragePool, Zone]:
    """Load a live pool by uuid with its zone, or raise 431 naming storageid."""
    found = session.execute(
        select(StoragePool, Zone)
        .join(Zone, Zone.id == StoragePool.data_center_id)
        .where(StoragePool.uuid == uuid, StoragePool.removed.is_(None))
    ).first()
    if found is None:
        raise NotFoundError(command, "storageid", uuid)
    pool, zone = found
    return pool, zone


def is_shared_with(session: Session, template_id: int, account_id: int) -> bool:
    """Whether the template's owner gave ``account_id`` a launch permission."""
    found = session.scalar(
        select(LaunchPermission.id).where(
            LaunchPermission.template_id == template_id,
            LaunchPermission.account_id == account_id,
        )
    )
    return found is not None


def _shared_with(account_id: int | None) -> ColumnElement[bool] | None:
    """Images shared with ``account_id`` (launch_permission); None for no one account."""
    if account_id is None:
        return None
    return exists().where(
        LaunchPermission.template_id == Template.id, LaunchPermission.account_id == account_id
    )


def _check_listed_image(session: Session, caller: Caller, uuid: str, *, isos: bool) -> None:
    """Refuse (531) listing another account's private image by id, as CloudStack does."""
    template = session.scalar(
        select(Template).where(Template.uuid == uuid, Template.removed.is_(None))
    )
    if template is None or (template.format == ImageFormat.ISO) != isos:
        return
    check_may_launch(
        caller,
        owner_account_id=template.account_id,
        public=template.public or is_shared_with(session, template.id, caller.account_id),
        image_uuid=uuid,
        owner_domain_path=owner_path_for(session, caller, template.account_id),
    )


def filtered_templates(
    *,
    isos: bool,
    filter_name: str,
    owned: ColumnElement[bool],
    shared: ColumnElement[bool] | None,
    template_uuid: str | None,
    name: str | None,
    keyword: str | None,
    zone_id: int | None,
) -> Select[Template, int]:
    """Build the query for listTemplates/listIsos: one row per (template, zone id).

    ``owned`` keeps the images of the accounts the caller's filters reach (owners.owned_by);
    ``shared`` those shared with that one account (None: the filters reach several
    accounts, which CloudStack's sharedexecutable answers with nothing). The filters mean
    what CloudStack's searchForTemplatesInternal makes them mean; an ``id`` ignores them,
    as there (the caller's access to it is checked before).
    """
    query = (
        select(Template, TemplateZoneRef.zone_id)
        .join(TemplateZoneRef, TemplateZoneRef.template_id == Template.id)
        .where(Template.removed.is_(None), TemplateZoneRef.removed.is_(None))
        .order_by(Template.sort_key, Template.id, TemplateZoneRef.zone_id)
    )
    query = query.where(
        Template.format == ImageFormat.ISO if isos else Template.format != ImageFormat.ISO
    )
    public = Template.public.is_(True)
    if template_uuid:
        pass
    elif filter_name in ("self", "selfexecutable"):
        query = query.where(owned)
    elif filter_name == "featured":
        query = query.where(public, Template.featured.is_(True))
    elif filter_name == "community":
        query = query.where(public, Template.featured.is_(False))
    elif filter_name in ("shared", "sharedexecutable"):
        query = query.where(shared if shared is not None else false())
    elif filter_name == "all" and shared is not None:
        query = query.where(owned | public | shared)
    else:
        query = query.where(owned | public)
    if template_uuid:
        query = query.where(Template.uuid == template_uuid)
    if name:
        query = query.where(Template.name == name)
    if keyword:
        query = query.where(
            Template.name.contains(keyword) | Template.display_text.contains(keyword)
        )
    if zone_id is not None:
        query = query.where(TemplateZoneRef.zone_id == zone_id)
    return query


def on_pool(query: Select[Template, int], pool: StoragePool) -> Select[Template, int]:
    """Keep the images with a copy row on ``pool``, listed in the pool's zone only."""
    has_copy = exists().where(
        TemplatePoolRef.template_id == Template.id, TemplatePoolRef.pool_id == pool.id
    )
    return query.where(has_copy, TemplateZoneRef.zone_id == pool.data_center_id)


def template_records(
    session: Session,
    pairs: Sequence[tuple[Template | ShownTemplate, int]],
    *,
    pool_id: int | None = None,
    zones: Mapping[int, Zone] | None = None,
) -> list[TemplateRecord]:
    """Build the records of (template, zone id) pairs, loading related rows once per kind.

    With ``pool_id``, each record's copies are the one on that pool only. ``zones`` are
    zones the caller has loaded already, by id.
    """
    templates = {t.id: t for t, _ in pairs}
    known = dict(zones or {})
    zone_rows = known | rows_by_id(session, Zone, {z for _, z in pairs if z not in known})
    accounts: dict[int, Account] = {}
    domains: dict[int, Domain] = {}
    guest_os: dict[int, GuestOs] = {}
    details: defaultdict[int, list[ShownDetail]] = defaultdict(list)
    copies: defaultdict[int, list[ShownCopy]] = defaultdict(list)
    if templates:
        # The owners, their domains and the guest OS types in one query, a row per distinct
        # (owner, OS type) of the page: a few rows, not one per template.
        named = (
            select(Template.account_id, Template.guest_os_id)
            .where(Template.id.in_(templates))
            .distinct()
            .subquery()
        )
        for owner, owner_domain, os_type in session.execute(
            select(Account, Domain, GuestOs)
            .select_from(named)
            .outerjoin(Account, Account.id == named.c.account_id)
            .outerjoin(Domain, Domain.id == Account.domain_id)
            .outerjoin(GuestOs, GuestOs.id == named.c.guest_os_id)
        ):
            keep(accounts, owner)
            keep(domains, owner_domain)
            keep(guest_os, os_type)
        # Details and copies as plain rows (one per template and more): only the pools and
        # hosts, a few per page, are ORM objects.
        for detail in session.execute(
            select(*_DETAIL_COLUMNS)
            .where(TemplateDetail.template_id.in_(templates))
            .order_by(TemplateDetail.id)
        ):
            details[detail[0]].append(ShownDetail._make(detail))
        for copy in session.execute(
            select(*_COPY_COLUMNS)
            .join(StoragePool, TemplatePoolRef.pool_id == StoragePool.id)
            .outerjoin(Host, Host.id == TemplatePoolRef.download_host_id)
            .where(
                TemplatePoolRef.template_id.in_(templates),
                true() if pool_id is None else TemplatePoolRef.pool_id == pool_id,
            )
            .order_by(TemplatePoolRef.id)
        ):
            copies[copy[0]].append(ShownCopy._make(copy))
    records = []
    for template, zone_id in pairs:
        account = accounts.get(template.account_id)
        records.append(
            TemplateRecord(
                template=template,
                zone=zone_rows[zone_id],
                account=account,
                domain=domains.get(account.domain_id) if account else None,
                guest_os=guest_os.get(template.guest_os_id),
                details=details[template.id],
                copies=[c for c in copies[template.id] if c.pool_zone_id == zone_id],
            )
        )
    return records


def zone_records(session: Session, template: Template) -> list[TemplateRecord]:
    """Build a template's record in each zone it is registered in, oldest registration first."""
    zone_ids = session.scalars(
        select(TemplateZoneRef.zone_id)
        .where(TemplateZoneRef.template_id == template.id)
        .order_by(TemplateZoneRef.id)
    )
    return template_records(session, [(template, zone_id) for zone_id in zone_ids])


def copy_record(session: Session, ref_id: int) -> TemplateRecord:
    """Build the record of a pool copy's template, in the pool's zone."""
    ref = session.get(TemplatePoolRef, ref_id)
    assert ref is not None
    template, pool = session.get(Template, ref.template_id), session.get(StoragePool, ref.pool_id)
    assert template is not None and pool is not None
    (record,) = template_records(session, [(template, pool.data_center_id)])
    return record
