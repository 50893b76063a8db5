"""Deploy and remove VMs; job kinds; what templates, heartbeats and restarts ask of VMs."""

import logging
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.access import check_may_launch, check_may_launch_for
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account
from kvmcloud.server.accounts.owners import check_access, owner_for, owner_path_for
from kvmcloud.server.agent_client import AgentClient, error_from_answer
from kvmcloud.server.configuration.definitions import INSTANCE_NAME
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database
from kvmcloud.server.errors import (
    ApiError,
    InvalidParameterError,
    PermissionDeniedError,
    ResourceUnavailableError,
)
from kvmcloud.server.hooks import TagHolder
from kvmcloud.server.infrastructure.heartbeats import HostSeen
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.infrastructure.service import endpoint_for
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.networks import rules as network_rules
from kvmcloud.server.networks.models import GuestType, Network, NetworkOffering
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.queries import get_by_uuid, get_by_uuid_if_given
from kvmcloud.server.templates.listing import is_shared_with
from kvmcloud.server.templates.models import ImageFormat, Template
from kvmcloud.server.vms.addressing import (
    GuestAddress,
    choose_address,
    choose_network_address,
    new_mac,
)
from kvmcloud.server.vms.hosting import ACTIVE_STATES
from kvmcloud.server.vms.models import (
    Nic,
    VirtualMachine,
    VmState,
    Volume,
    VolumeState,
    VolumeType,
)
from kvmcloud.server.vms.records import ConsoleLog

logger = logging.getLogger(__name__)

GIB = 1024**3
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
# Bound on deploys lost to a concurrent one taking the same address (see deploy_vm).
MAX_ADDRESS_RACES = 64

DEPLOY_JOB = "deploy_vm"
START_JOB = "start_vm"
STOP_JOB = "stop_vm"
REBOOT_JOB = "reboot_vm"
DESTROY_JOB = "destroy_vm"
ATTACH_ISO_JOB = "attach_iso"


# --- deploy -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployRequest:
    """A deployVirtualMachine as asked: the API's ids of the rows to use, sizes in GB."""

    zone_id: str
    template_id: str
    service_offering_id: str
    disk_offering_id: str | None
    host_id: str | None
    name: str | None
    display_name: str | None
    start: bool
    root_disk_size: int | None
    # ``account`` and ``domainid``: deploy for that account (admins over its domain).
    account_name: str | None = None
    domain_uuid: str | None = None
    # ``networkids``: one NIC per network, in this order, the first the default. Empty: one
    # NIC with an address of the zone's guest range.
    network_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """A deployVirtualMachine with its rows resolved."""

    zone: Zone
    template: Template
    offering: ServiceOffering
    disk_offering: DiskOffering | None
    name: str | None
    display_name: str | None
    start: bool
    host: Host | None
    root_disk_bytes: int | None
    networks: tuple[Network, ...] = ()


def deploy_vm(
    db: Database,
    request: DeployRequest,
    *,
    caller: Caller,
    rng: random.Random,
    clock: Callable[[], datetime],
    command: str,
) -> tuple[VirtualMachine, str]:
    """Write the VM and queue the job that places and starts it; return the VM and job id."""
    if request.host_id and not caller.is_admin:
        # CloudStack's wording and code (PermissionDeniedException): the caller may not.
        raise PermissionDeniedError(
            "Parameter hostid can only be specified by a Root Admin, permission denied"
        )
    # Deploys at the same moment read the same used addresses and pick the same lowest free
    # one (or, rarely, the same MAC); the NIC's unique constraints refuse all but one, and
    # the others read the addresses again. Every round commits at least one deploy.
    for race in range(1, MAX_ADDRESS_RACES + 1):
        try:
            with db.transaction() as session:
                owner = owner_for(
                    session,
                    caller,
                    account_name=request.account_name,
                    domain_uuid=request.domain_uuid,
                    command=command,
                    what="vm to deploy",
                )
                deployment = _resolve(session, request, caller, command, owner)
                return create_vm(
                    session,
                    deployment,
                    account_id=owner.id if owner is not None else caller.account_id,
                    user_id=caller.user_id,
                    rng=rng,
                    now=clock(),
                )
        except IntegrityError as exc:
            if "nics" not in str(exc.orig) or race == MAX_ADDRESS_RACES:
                raise
            logger.info("deploy lost an address race (%d), trying again", race)
    raise AssertionError("unreachable")  # the loop returns or raises


def _resolve(
    session: Session, request: DeployRequest, caller: Caller, command: str, owner: Account | None
) -> Deployment:
    """Load the rows the request names (431 for any the caller may not use); check sizes.

    A VM deployed for another account uses an image that account may use too.
    """
    get = get_by_uuid
    zone = get(session, Zone, request.zone_id, command=command, param="zoneid")
    template = get(session, Template, request.template_id, command=command, param="templateid")
    check_may_use(session, caller, template)
    if owner is not None and owner.id != caller.account_id:
        check_may_launch_for(
            owner.account_name,
            owner.id,
            image_owner_account_id=template.account_id,
            public=template.public or is_shared_with(session, template.id, owner.id),
            image_uuid=template.uuid,
        )
    offering = get(
        session,
        ServiceOffering,
        request.service_offering_id,
        command=command,
        param="serviceofferingid",
    )
    disk_offering = get_by_uuid_if_given(
        session, DiskOffering, request.disk_offering_id, command=command, param="diskofferingid"
    )
    host = get_by_uuid_if_given(session, Host, request.host_id, command=command, param="hostid")
    networks = _networks(
        session,
        request.network_ids,
        owner_account_id=owner.id if owner is not None else caller.account_id,
        zone=zone,
        command=command,
    )
    return Deployment(
        zone=zone,
        template=template,
        offering=offering,
        disk_offering=disk_offering,
        name=request.name,
        display_name=request.display_name,
        start=request.start,
        host=host,
        root_disk_bytes=request.root_disk_size * GIB if request.root_disk_size else None,
        networks=networks,
    )


def _networks(
    session: Session, uuids: tuple[str, ...], *, owner_account_id: int, zone: Zone, command: str
) -> tuple[Network, ...]:
    """Load the networks of ``networkids`` in order, each one the VM's owner may use."""
    network_rules.check_unique_networks(uuids)
    networks = []
    for uuid in uuids:
        network = get_by_uuid(session, Network, uuid, command=command, param="networkids")
        offering = session.get_one(NetworkOffering, network.network_offering_id)
        network_rules.check_deploy_network(
            network, offering.state, owner_account_id=owner_account_id, zone=zone
        )
        networks.append(network)
    return tuple(networks)


def validate_deploy(deployment: Deployment) -> None:
    """Check the combination of template, offerings and sizes before anything is written."""
    template = deployment.template
    if deployment.name is not None and not _NAME.match(deployment.name):
        raise InvalidParameterError(
            "name",
            "Invalid name: up to 63 letters, digits and hyphens, starting with a letter",
        )
    if template.format == ImageFormat.ISO:
        if deployment.disk_offering is None:
            raise InvalidParameterError(
                "diskofferingid", "A VM deployed from an ISO needs diskofferingid for its root disk"
            )
        if not template.bootable:
            raise InvalidParameterError(
                "templateid",
                f"Invalid parameter templateid value={template.uuid}: "
                f"ISO {template.name} is not bootable",
            )
    elif (
        deployment.root_disk_bytes is not None
        and template.size
        and deployment.root_disk_bytes < template.size
    ):
        raise InvalidParameterError(
            "rootdisksize",
            f"rootdisksize must be at least the template's size ({template.size // GIB} GB)",
        )
    if deployment.host is not None and deployment.host.data_center_id != deployment.zone.id:
        raise InvalidParameterError(
            "hostid",
            f"Invalid parameter hostid value={deployment.host.uuid}: host "
            f"{deployment.host.name} is not in zone {deployment.zone.name}",
        )


def create_vm(
    session: Session,
    deployment: Deployment,
    *,
    account_id: int,
    user_id: int,
    rng: random.Random,
    now: datetime,
) -> tuple[VirtualMachine, str]:
    """Write the VM, its NIC and its (not yet created) root volume; queue the deploy job."""
    validate_deploy(deployment)
    template = deployment.template
    vm = VirtualMachine(
        name=deployment.name or "pending",
        display_name=deployment.display_name,
        instance_name=f"pending-{rng.getrandbits(64):x}",
        state=VmState.STARTING if deployment.start else VmState.STOPPED,
        data_center_id=deployment.zone.id,
        host_id=deployment.host.id if deployment.host else None,
        template_id=template.id,
        iso_id=template.id if template.format == ImageFormat.ISO else None,
        service_offering_id=deployment.offering.id,
        guest_os_id=template.guest_os_id,
        account_id=account_id,
        created=now,
    )
    session.add(vm)
    session.flush()
    # CloudStack's internal name, what libvirt calls the domain: i-<account>-<vm>-<instance.name>.
    vm.instance_name = f"i-{account_id}-{vm.id}-{get_value(session, INSTANCE_NAME)}"
    if deployment.name is None:
        vm.name = f"VM-{vm.uuid}"
    vm.display_name = vm.display_name or vm.name
    _add_nics(session, vm, deployment, rng=rng, now=now)
    iso = template.format == ImageFormat.ISO
    size = (
        deployment.disk_offering.disk_size
        if iso and deployment.disk_offering is not None
        else deployment.root_disk_bytes or template.size or 0
    )
    volume = Volume(
        name=f"ROOT-{vm.id}",
        instance_id=vm.id,
        data_center_id=deployment.zone.id,
        volume_type=VolumeType.ROOT,
        path="",
        size=size,
        template_id=None if iso else template.id,
        disk_offering_id=deployment.disk_offering.id if deployment.disk_offering else None,
        state=VolumeState.ALLOCATED,
        created=now,
    )
    session.add(volume)
    session.flush()
    volume.path = volume.uuid
    job = queue.enqueue(
        session,
        kind=DEPLOY_JOB,
        cmd="org.apache.cloudstack.api.command.user.vm.DeployVMCmd",
        payload={"vm_id": vm.id, "start": deployment.start},
        now=now,
        account_id=account_id,
        user_id=user_id,
        instance_type="VirtualMachine",
        instance_uuid=vm.uuid,
    )
    return vm, job.uuid


def _add_nics(
    session: Session,
    vm: VirtualMachine,
    deployment: Deployment,
    *,
    rng: random.Random,
    now: datetime,
) -> None:
    """One NIC per chosen network in order (the first the default), or one of the zone range.

    Addresses stay unique in the zone (the NIC table's constraint), so two guest networks
    of one zone with overlapping CIDRs share their free addresses.
    """
    zone_id = deployment.zone.id
    used = {
        ip
        for ip in session.scalars(select(Nic.ip4_address).where(Nic.data_center_id == zone_id))
        if ip is not None
    }
    wanted: list[tuple[Network | None, GuestAddress | None]] = []
    if not deployment.networks:
        wanted.append((None, choose_address(deployment.zone.guest_network_cidr, used)))
    for network in deployment.networks:
        address = None
        if network.guest_type is not GuestType.L2 and network.cidr is not None:
            address = choose_network_address(network.cidr, network.gateway, used)
            used.add(address.ip)
        wanted.append((network, address))
    for index, (nic_network, address) in enumerate(wanted):
        session.add(
            Nic(
                instance_id=vm.id,
                data_center_id=zone_id,
                network_id=nic_network.id if nic_network else None,
                mac_address=_unused_mac(session, rng),
                ip4_address=address.ip if address else None,
                netmask=address.netmask if address else None,
                gateway=address.gateway if address else None,
                is_default=index == 0,
                created=now,
            )
        )
        # Flushed one by one so that the next NIC's MAC check sees this one.
        session.flush()


def _unused_mac(session: Session, rng: random.Random) -> str:
    for _ in range(32):
        mac = new_mac(rng)
        if session.scalar(select(Nic.id).where(Nic.mac_address == mac)) is None:
            return mac
    raise ResourceUnavailableError("Could not find an unused MAC address")


def check_may_use(session: Session, caller: Caller, template: Template) -> None:
    """Let the caller use an image: public, shared with them, or theirs to act for.

    Featured alone is not enough, as in CloudStack: a featured image that is not public
    is its owner's (and their admins').
    """
    check_may_launch(
        caller,
        owner_account_id=template.account_id,
        public=template.public or is_shared_with(session, template.id, caller.account_id),
        image_uuid=template.uuid,
        owner_domain_path=owner_path_for(session, caller, template.account_id),
    )


# --- reconciling with what hosts report -------------------------------------------------


# Consecutive disagreeing heartbeats before a VM's state follows the host's report.
POWER_STATE_REPORTS_TO_ACT = 2


def after_heartbeat(session: Session, seen: HostSeen) -> None:
    """Align the host's VMs with the domains its heartbeat reports, logging each change."""
    for name, old, new in reconcile_vm_states(session, seen.host, seen.beat.vm_states, seen.now):
        logger.warning("VM %s on host %s: %s -> %s", name, seen.host.name, old, new)


# Built once: every heartbeat runs it (see infrastructure.service._LIVE_HOST_BY_UUID).
_SETTLED_VMS_OF_HOST = select(VirtualMachine).where(
    VirtualMachine.removed.is_(None),
    # Two comparisons, not in_(): an IN list is expanded again for every execution.
    (VirtualMachine.state == VmState.RUNNING) | (VirtualMachine.state == VmState.STOPPED),
    (VirtualMachine.host_id == bindparam("host_id"))
    | (VirtualMachine.last_host_id == bindparam("host_id")),
)


def reconcile_vm_states(
    session: Session, host: Host, vm_states: dict[str, msg.VmPowerState] | None, now: datetime
) -> list[tuple[str, VmState, VmState]]:
    """Align VM states with the domains a host reports; return the changes.

    VMs in a transition (Starting, Stopping) belong to a running job and are left alone. A
    heartbeat's snapshot may be older than a job that just changed a VM, so a state follows
    the report only after POWER_STATE_REPORTS_TO_ACT consecutive reports disagree with it.
    ``vm_states`` None means the host could not ask libvirt: nothing is concluded.
    """
    changes: list[tuple[str, VmState, VmState]] = []
    if vm_states is None:
        return changes
    vms = session.scalars(_SETTLED_VMS_OF_HOST, {"host_id": host.id})
    for vm in vms:
        power = vm_states.get(vm.instance_name, msg.VmPowerState.MISSING)
        # A paused guest still holds its host's memory and resumes on start: still Running.
        if power == msg.VmPowerState.PAUSED:
            power = msg.VmPowerState.RUNNING
        running_here = vm.state == VmState.RUNNING and vm.host_id == host.id
        went_away = running_here and power != msg.VmPowerState.RUNNING
        came_up = vm.state == VmState.STOPPED and power == msg.VmPowerState.RUNNING
        if not (went_away or came_up):
            vm.power_state_mismatches = 0
            continue
        vm.power_state_mismatches += 1
        if vm.power_state_mismatches < POWER_STATE_REPORTS_TO_ACT:
            continue
        vm.power_state_mismatches = 0
        if went_away:
            changes.append((vm.name, vm.state, VmState.STOPPED))
            vm.state = VmState.STOPPED
            vm.last_host_id, vm.host_id = host.id, None
            vm.error_text = f"found {power.value} on host {host.name} (stopped outside kvmcloud)"
        else:
            changes.append((vm.name, vm.state, VmState.RUNNING))
            vm.state = VmState.RUNNING
            vm.host_id = vm.last_host_id = host.id
    return changes


# --- removal, and what templates ask of VMs --------------------------------------------


def volumes_of(session: Session, vm: VirtualMachine) -> list[Volume]:
    """Return the VM's volumes that still exist."""
    return list(
        session.scalars(select(Volume).where(Volume.instance_id == vm.id, Volume.removed.is_(None)))
    )


def remove_vm(session: Session, vm: VirtualMachine, now: datetime) -> None:
    """Mark the VM expunged: volumes gone, NIC address freed, the row removed from listings."""
    for volume in volumes_of(session, vm):
        volume.state = VolumeState.EXPUNGED
        volume.removed = now
    for nic in session.scalars(select(Nic).where(Nic.instance_id == vm.id)):
        session.delete(nic)
    vm.state = VmState.EXPUNGING
    vm.removed = now


def network_users(session: Session, network_id: int) -> list[tuple[str, str]]:
    """The VMs not yet expunged with a NIC on the network, as (name, state), oldest first."""
    rows = session.execute(
        select(VirtualMachine.name, VirtualMachine.state)
        .where(
            VirtualMachine.removed.is_(None),
            VirtualMachine.id.in_(select(Nic.instance_id).where(Nic.network_id == network_id)),
        )
        .order_by(VirtualMachine.id)
    )
    return [(name, str(state)) for name, state in rows]


def count_users(session: Session, template_id: int) -> int:
    """How many VMs that still exist were deployed from, or have inserted, this template/ISO."""
    return (
        session.scalar(
            select(func.count(VirtualMachine.id)).where(
                VirtualMachine.removed.is_(None),
                (VirtualMachine.template_id == template_id)
                | (VirtualMachine.iso_id == template_id),
            )
        )
        or 0
    )


def offering_volume_pools(session: Session, kind: str, offering_id: int) -> list[TagHolder]:
    """The pools holding active volumes of a service (root disks) or disk offering."""
    query = (
        select(Volume, StoragePool)
        .join(StoragePool, Volume.pool_id == StoragePool.id)
        .where(
            Volume.removed.is_(None),
            Volume.state.not_in((VolumeState.DESTROY, VolumeState.EXPUNGED)),
        )
        .order_by(StoragePool.id, Volume.id)
    )
    if kind == "service":
        query = query.join(VirtualMachine, Volume.instance_id == VirtualMachine.id).where(
            VirtualMachine.service_offering_id == offering_id,
            VirtualMachine.removed.is_(None),
            Volume.volume_type == VolumeType.ROOT,
        )
    else:
        query = query.where(Volume.disk_offering_id == offering_id)
    return _holders((pool, volume.name, volume.uuid) for volume, pool in session.execute(query))


def offering_vm_hosts(session: Session, offering_id: int) -> list[TagHolder]:
    """The hosts running active (Starting, Running, Stopping) VMs of a service offering."""
    rows = session.execute(
        select(VirtualMachine, Host)
        .join(Host, VirtualMachine.host_id == Host.id)
        .where(
            VirtualMachine.service_offering_id == offering_id,
            VirtualMachine.state.in_(ACTIVE_STATES),
            VirtualMachine.removed.is_(None),
        )
        .order_by(Host.id, VirtualMachine.id)
    )
    return _holders((host, vm.name, vm.uuid) for vm, host in rows)


def _holders(rows: Iterable[tuple[StoragePool | Host, str, str]]) -> list[TagHolder]:
    found: dict[int, tuple[StoragePool | Host, list[tuple[str, str]]]] = {}
    for place, name, uuid in rows:
        found.setdefault(place.id, (place, []))[1].append((name, uuid))
    return [
        TagHolder(
            name=place.name,
            uuid=place.uuid,
            tags=place.tags if isinstance(place, StoragePool) else place.host_tags,
            users=tuple(users),
        )
        for place, users in found.values()
    ]


def account_vms(session: Session, account_id: int) -> list[tuple[str, str]]:
    """The account's VMs not yet expunged, as (uuid, "VM <name>"): what deleteAccount removes."""
    return _described(session, account_id, None)


def account_running_vms(session: Session, account_id: int) -> list[tuple[str, str]]:
    """The account's Running VMs, as (uuid, "VM <name>"): what disableAccount stops."""
    return _described(session, account_id, VmState.RUNNING)


def _described(session: Session, account_id: int, state: VmState | None) -> list[tuple[str, str]]:
    query = select(VirtualMachine.uuid, VirtualMachine.name).where(
        VirtualMachine.removed.is_(None), VirtualMachine.account_id == account_id
    )
    if state is not None:
        query = query.where(VirtualMachine.state == state)
    return [
        (uuid, f"VM {name}") for uuid, name in session.execute(query.order_by(VirtualMachine.id))
    ]


def pools_in_use(session: Session, template_id: int) -> set[int]:
    """Pools where a live volume is backed by the template, or a live VM's ISO is inserted."""
    backing = set(
        session.scalars(
            select(Volume.pool_id).where(
                Volume.template_id == template_id,
                Volume.removed.is_(None),
                Volume.pool_id.is_not(None),
            )
        )
    )
    iso_vms = session.scalars(
        select(VirtualMachine).where(
            VirtualMachine.removed.is_(None), VirtualMachine.iso_id == template_id
        )
    )
    iso_pools = {
        pool_id
        for vm in iso_vms
        for pool_id in (
            [vm.iso_pool_id]
            if vm.iso_pool_id is not None
            # Rows from before the ISO's pool was recorded: it was the root disk's.
            else [v.pool_id for v in volumes_of(session, vm)]
        )
    }
    return {p for p in backing | iso_pools if p is not None}


def settle_vms_without_jobs(session: Session, now: datetime) -> int:
    """Settle VMs left Starting or Stopping with no pending job behind them; return how many.

    That happens when a management server stopped mid-way and its job could not be
    resumed. Starting becomes Stopped and Stopping becomes Running, each with the reason;
    the next heartbeats correct the state from what the host really runs
    (reconcile_vm_states). VMs whose job is still pending (running here, on another
    management server, or resumed after a takeover) are left to that job.
    """
    pending = select(AsyncJob.instance_uuid).where(
        AsyncJob.job_status == JobStatus.PENDING, AsyncJob.instance_uuid.is_not(None)
    )
    interrupted = list(
        session.scalars(
            select(VirtualMachine).where(
                VirtualMachine.removed.is_(None),
                VirtualMachine.state.in_((VmState.STARTING, VmState.STOPPING)),
                VirtualMachine.uuid.not_in(pending),
            )
        )
    )
    for vm in interrupted:
        vm.error_text = "interrupted by a management server restart"
        vm.power_state_mismatches = 0
        if vm.state == VmState.STARTING:
            vm.state = VmState.STOPPED
            vm.last_host_id, vm.host_id = vm.host_id or vm.last_host_id, None
        else:
            vm.state = VmState.RUNNING
    return len(interrupted)


# --- console log ------------------------------------------------------------------------------

CONSOLE_LOG_TIMEOUT_S = 30.0


def read_console_log(
    db: Database,
    agents: AgentClient,
    caller: Caller,
    vm_uuid: str,
    *,
    max_bytes: int,
    command: str,
) -> ConsoleLog:
    """Ask the VM's host (its current one, else the last) for the tail of its console log.

    Raises:
        NotFoundError: no such VM (431 naming ``id``).
        PermissionDeniedError: another account's VM, out of the caller's reach (531).
        ResourceUnavailableError: the VM has no host, or its agent cannot be reached (534).
        ApiError: the agent failed to read the log (530).
    """
    with db.transaction() as session:
        vm = get_by_uuid(session, VirtualMachine, vm_uuid, command=command, param="id")
        check_access(session, caller, vm.account_id, f"VM instance {vm_uuid}")
        host_id = vm.host_id if vm.host_id is not None else vm.last_host_id
        host = session.get(Host, host_id) if host_id is not None else None
        if host is None or host.removed is not None:
            raise ResourceUnavailableError(
                f"VM instance {vm_uuid} has not run on any host yet, so it has no console log"
            )
        endpoint = endpoint_for(host)
        instance_name = vm.instance_name
    # Outside the transaction: the agent's answer may take a while.
    answer = agents.call(
        endpoint,
        msg.ReadConsoleLogCommand(name=instance_name, max_bytes=max_bytes),
        timeout_s=CONSOLE_LOG_TIMEOUT_S,
    )
    if not answer.ok:
        raise error_from_answer(
            answer,
            f"Reading the console log of VM instance {vm_uuid} failed on host {endpoint.name}",
        )
    result = answer.result
    if not isinstance(result, msg.ConsoleLogResult):
        raise ApiError(f"Host {endpoint.name} answered the console log request with {result!r}")
    return ConsoleLog(
        vm_uuid=vm_uuid, log=result.log, truncated=result.truncated, size_bytes=result.size_bytes
    )
