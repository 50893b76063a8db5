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
from kvmcloud.server.queries import get_by_uuid, list_window, matches_enum, paged, rows_by_id
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
    related: dict[int, _VmRelated] = {}
    nics: dict[int, list[Nic]] = {}
    vm_ids = {vm.id for vm in vms}
    if vm_ids:
        # The rows each VM names once (zone, offering, host, owner and its domain, guest OS).
        query = (
            select(VirtualMachine.id, Zone, ServiceOffering, Host, Account, Domain, GuestOs)
            .outerjoin(Zone, Zone.id == VirtualMachine.data_center_id)
            .outerjoin(ServiceOffering, ServiceOffering.id == VirtualMachine.service_offering_id)
            .outerjoin(Host, Host.id == VirtualMachine.host_id)
            .outerjoin(Account, Account.id == VirtualMachine.account_id)
            .outerjoin(Domain, Domain.id == Account.domain_id)
            .outerjoin(GuestOs, GuestOs.id == VirtualMachine.guest_os_id)
            .where(VirtualMachine.id.in_(vm_ids))
        )
        for vm_id, zone, offering, host, account, domain, guest_os in session.execute(query):
            related[vm_id] = _VmRelated(zone, offering, host, account, domain, guest_os)
        nic_query = select(Nic).where(Nic.instance_id.in_(vm_ids)).order_by(Nic.id)
        for nic in session.scalars(nic_query):
            nics.setdefault(nic.instance_id, []).append(nic)
    images = rows_by_id(session, Template, [i for vm in vms for i in (vm.template_id, vm.iso_id)])
    networks = rows_by_id(
        session, Network, (n.network_id for ns in nics.values() for n in ns if n.network_id)
    )
    records = []
    for vm in vms:
        rel = related.get(vm.id, _VmRelated())
        records.append(
            VmRecord(
                vm=vm,
                zone=rel.zone,
                offering=rel.offering,
                template=images.get(vm.template_id),
                iso=_get(images, vm.iso_id),
                host=rel.host,
                account=rel.account,
                domain=rel.domain,
                guest_os=rel.guest_os,
                nics=tuple(nics.get(vm.id, ())),
                networks=networks,
            )
        )
    return records


@dataclass(frozen=True, slots=True)
class _VmRelated:
    """The rows one VM names by foreign key (None: none, or gone)."""

    zone: Zone | None = None
    offering: ServiceOffering | None = None
    host: Host | None = None
    account: Account | None = None
    domain: Domain | None = None
    guest_os: GuestOs | None = None


def volume_records(session: Session, volumes: Sequence[Volume]) -> list[VolumeRecord]:
    """Load the rows a page of volumes' responses name, in one query joining them."""
    related: dict[int, VolumeRecord] = {}
    if volumes:
        query = (
            select(Volume, Zone, StoragePool, VirtualMachine, Template, DiskOffering)
            .outerjoin(Zone, Zone.id == Volume.data_center_id)
            .outerjoin(StoragePool, StoragePool.id == Volume.pool_id)
            .outerjoin(VirtualMachine, VirtualMachine.id == Volume.instance_id)
            .outerjoin(Template, Template.id == Volume.template_id)
            .outerjoin(DiskOffering, DiskOffering.id == Volume.disk_offering_id)
            .add_columns(Account, Domain)
            .outerjoin(Account, Account.id == VirtualMachine.account_id)
            .outerjoin(Domain, Domain.id == Account.domain_id)
            .where(Volume.id.in_({v.id for v in volumes}))
        )
        for volume, zone, pool, vm, template, offering, account, domain in session.execute(query):
            related[volume.id] = VolumeRecord(
                volume=volume,
                zone=zone,
                pool=pool,
                vm=vm,
                template=template,
                offering=offering,
                account=account,
                domain=domain,
            )
    return [related[v.id] for v in volumes]


def _get(rows: dict[int, M], row_id: int | None) -> M | None:
    return rows.get(row_id) if row_id is not None else None
