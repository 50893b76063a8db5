"""List VMs and volumes a page at a time; load the records their responses show, page-wise."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.accounts.owners import check_access, owned_by, scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.networks.models import Network
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import (
    get_by_uuid,
    keep,
    list_window,
    matches_enum,
    paged,
    rows_by_id,
)
from kvmcloud.server.templates.models import GuestOs, Template
from kvmcloud.server.vms.models import Nic, VirtualMachine, VmState, Volume, VolumeType
from kvmcloud.server.vms.records import VmRecord, VolumeRecord

M = TypeVar("M")


@dataclass(frozen=True, slots=True, kw_only=True)
class VmFilter:
    """Which VMs listVirtualMachines asks for (None: any); uuids are the API's ids."""

    owners: OwnerFilter
    keyword: str | None
    id: str | None
    ids: Sequence[str] | None
    name: str | None
    state: str | None
    zone_id: str | None
    host_id: str | None
    template_id: str | None
    iso_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeFilter:
    """Which volumes listVolumes asks for (None: any); uuids are the API's ids."""

    owners: OwnerFilter
    keyword: str | None
    id: str | None
    vm_id: str | None
    type: str | None
    zone_id: str | None
    pool_id: str | None


def list_vms(
    db: Database, wanted: VmFilter, page: PageRequest, *, caller: Caller, command: str
) -> tuple[list[VmRecord], int]:
    """Return one page of the VMs the caller sees, oldest first, and how many match.

    Removed VMs are not listed; Destroyed ones are, until expunged. As CloudStack: without
    listall=true (or an id) even admins see only their own VMs.
    """
    query = (
        select(VirtualMachine).where(VirtualMachine.removed.is_(None)).order_by(VirtualMachine.id)
    )
    if wanted.id:
        query = query.where(VirtualMachine.uuid == wanted.id)
    if wanted.ids:
        query = query.where(VirtualMachine.uuid.in_(wanted.ids))
    if wanted.name:
        query = query.where(VirtualMachine.name == wanted.name)
    if wanted.state:
        query = query.where(matches_enum(VirtualMachine.state, VmState, wanted.state))
    if wanted.keyword:
        query = query.where(VirtualMachine.name.contains(wanted.keyword))
    for value, model, column in (
        (wanted.zone_id, Zone, VirtualMachine.data_center_id),
        (wanted.host_id, Host, VirtualMachine.host_id),
        (wanted.template_id, Template, VirtualMachine.template_id),
        (wanted.iso_id, Template, VirtualMachine.iso_id),
    ):
        if value:
            query = query.where(
                column == select(model.id).where(model.uuid == value).scalar_subquery()
            )
    with db.transaction() as session:
        by_id = bool(wanted.id or wanted.ids)
        scope = scope_of(session, caller, wanted.owners, command=command, by_id=by_id)
        query = query.where(owned_by(scope, VirtualMachine.account_id))
        vms, total = paged(session, query, list_window(session, page))
        return vm_records(session, vms), total


def list_volumes(
    db: Database, wanted: VolumeFilter, page: PageRequest, *, caller: Caller, command: str
) -> tuple[list[VolumeRecord], int]:
    """Return one page of the volumes of the VMs the caller's filters reach (as list_vms)."""
    query = (
        select(Volume)
        .join(VirtualMachine, Volume.instance_id == VirtualMachine.id)
        .where(Volume.removed.is_(None))
        .order_by(Volume.id)
    )
    if wanted.id:
        query = query.where(Volume.uuid == wanted.id)
    if wanted.vm_id:
        query = query.where(VirtualMachine.uuid == wanted.vm_id)
    if wanted.type:
        query = query.where(matches_enum(Volume.volume_type, VolumeType, wanted.type))
    if wanted.keyword:
        query = query.where(Volume.name.contains(wanted.keyword))
    if wanted.zone_id:
        query = query.join(Zone, Volume.data_center_id == Zone.id).where(
            Zone.uuid == wanted.zone_id
        )
    if wanted.pool_id:
        query = query.join(StoragePool, Volume.pool_id == StoragePool.id).where(
            StoragePool.uuid == wanted.pool_id
        )
    with db.transaction() as session:
        scope = scope_of(session, caller, wanted.owners, command=command, by_id=bool(wanted.id))
        query = query.where(owned_by(scope, VirtualMachine.account_id))
        volumes, total = paged(session, query, list_window(session, page))
        return volume_records(session, volumes), total


@dataclass(frozen=True, slots=True, kw_only=True)
class NicFilter:
    """Which NICs of one VM listNics asks for (None: any); uuids are the API's ids."""

    vm_id: str
    nic_id: str | None = None
    network_id: str | None = None


def list_nics(
    db: Database, wanted: NicFilter, page: PageRequest, *, caller: Caller, command: str
) -> tuple[list[tuple[Nic, Network | None]], str, int]:
    """Return one page of a VM's NICs with their networks, the VM's uuid, and the total.

    As CloudStack: the VM must be one the caller may act on (531 otherwise); the NICs come
    in device order, the default first.
    """
    with db.transaction() as session:
        vm = get_by_uuid(
            session, VirtualMachine, wanted.vm_id, command=command, param="virtualmachineid"
        )
        check_access(session, caller, vm.account_id, f"VM instance {vm.uuid}")
        query = select(Nic).where(Nic.instance_id == vm.id).order_by(Nic.id)
        if wanted.nic_id:
            query = query.where(Nic.uuid == wanted.nic_id)
        if wanted.network_id:
            query = query.join(Network, Nic.network_id == Network.id).where(
                Network.uuid == wanted.network_id
            )
        nics, total = paged(session, query, list_window(session, page))
        networks = rows_by_id(session, Network, (n.network_id for n in nics if n.network_id))
        return [(nic, _get(networks, nic.network_id)) for nic in nics], vm.uuid, total


def vm_record(session: Session, vm: VirtualMachine) -> VmRecord:
    """Load the rows one VM's response names."""
    return vm_records(session, [vm])[0]


def vm_records(session: Session, vms: Sequence[VirtualMachine]) -> list[VmRecord]:
    """Load the rows a page of VMs' responses name: one query per kind of row, or a join."""
    zones: dict[int, Zone] = {}
    offerings: dict[int, ServiceOffering] = {}
    hosts: dict[int, Host] = {}
    accounts: dict[int, Account] = {}
    domains: dict[int, Domain] = {}
    guest_oses: dict[int, GuestOs] = {}
    nics: dict[int, list[Nic]] = {}
    vm_ids = {vm.id for vm in vms}
    if vm_ids:
        # The rows the VMs name by foreign key in one query, a row per distinct combination:
        # a page shares a few zones, offerings, hosts, owners and OS types.
        named = (
            select(
                VirtualMachine.data_center_id,
                VirtualMachine.service_offering_id,
                VirtualMachine.host_id,
                VirtualMachine.account_id,
                VirtualMachine.guest_os_id,
            )
            .where(VirtualMachine.id.in_(vm_ids))
            .distinct()
            .subquery()
        )
        query = (
            select(Zone, ServiceOffering, Host, Account, Domain, GuestOs)
            .select_from(named)
            .outerjoin(Zone, Zone.id == named.c.data_center_id)
            .outerjoin(ServiceOffering, ServiceOffering.id == named.c.service_offering_id)
            .outerjoin(Host, Host.id == named.c.host_id)
            .outerjoin(Account, Account.id == named.c.account_id)
            .outerjoin(Domain, Domain.id == Account.domain_id)
            .outerjoin(GuestOs, GuestOs.id == named.c.guest_os_id)
        )
        for zone, offering, host, owner, owner_domain, guest_os in session.execute(query):
            keep(zones, zone)
            keep(offerings, offering)
            keep(hosts, host)
            keep(accounts, owner)
            keep(domains, owner_domain)
            keep(guest_oses, guest_os)
        nic_query = select(Nic).where(Nic.instance_id.in_(vm_ids)).order_by(Nic.id)
        for nic in session.scalars(nic_query):
            nics.setdefault(nic.instance_id, []).append(nic)
    images = rows_by_id(session, Template, [i for vm in vms for i in (vm.template_id, vm.iso_id)])
    networks = rows_by_id(
        session, Network, (n.network_id for ns in nics.values() for n in ns if n.network_id)
    )
    records = []
    for vm in vms:
        account = accounts.get(vm.account_id)
        records.append(
            VmRecord(
                vm=vm,
                zone=zones.get(vm.data_center_id),
                offering=offerings.get(vm.service_offering_id),
                template=images.get(vm.template_id),
                iso=_get(images, vm.iso_id),
                host=_get(hosts, vm.host_id),
                account=account,
                domain=domains.get(account.domain_id) if account else None,
                guest_os=guest_oses.get(vm.guest_os_id),
                nics=tuple(nics.get(vm.id, ())),
                networks=networks,
            )
        )
    return records


def volume_records(session: Session, volumes: Sequence[Volume]) -> list[VolumeRecord]:
    """Load the rows a page of volumes' responses name: one query per kind of row, or a join."""
    zones: dict[int, Zone] = {}
    pools: dict[int, StoragePool] = {}
    templates: dict[int, Template] = {}
    offerings: dict[int, DiskOffering] = {}
    if volumes:
        # As for VMs: a row per distinct (zone, pool, template, offering) of the page.
        named = (
            select(
                Volume.data_center_id, Volume.pool_id, Volume.template_id, Volume.disk_offering_id
            )
            .where(Volume.id.in_({v.id for v in volumes}))
            .distinct()
            .subquery()
        )
        query = (
            select(Zone, StoragePool, Template, DiskOffering)
            .select_from(named)
            .outerjoin(Zone, Zone.id == named.c.data_center_id)
            .outerjoin(StoragePool, StoragePool.id == named.c.pool_id)
            .outerjoin(Template, Template.id == named.c.template_id)
            .outerjoin(DiskOffering, DiskOffering.id == named.c.disk_offering_id)
        )
        for zone, pool, template, offering in session.execute(query):
            keep(zones, zone)
            keep(pools, pool)
            keep(templates, template)
            keep(offerings, offering)
    vms = rows_by_id(session, VirtualMachine, (v.instance_id for v in volumes))
    accounts: dict[int, Account] = {}
    domains: dict[int, Domain] = {}
    if vms:
        owners = (
            select(Account, Domain)
            .outerjoin(Domain, Domain.id == Account.domain_id)
            .where(Account.id.in_({vm.account_id for vm in vms.values()}))
        )
        for owner, owner_domain in session.execute(owners):
            keep(accounts, owner)
            keep(domains, owner_domain)
    records = []
    for v in volumes:
        vm = _get(vms, v.instance_id)
        account = accounts.get(vm.account_id) if vm else None
        records.append(
            VolumeRecord(
                volume=v,
                zone=zones.get(v.data_center_id),
                pool=_get(pools, v.pool_id),
                vm=vm,
                template=_get(templates, v.template_id),
                offering=_get(offerings, v.disk_offering_id),
                account=account,
                domain=domains.get(account.domain_id) if account else None,
            )
        )
    return records


def _get(rows: dict[int, M], row_id: int | None) -> M | None:
    return rows.get(row_id) if row_id is not None else None
