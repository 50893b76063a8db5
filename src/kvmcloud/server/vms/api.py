"""VM and volume commands: deploy, list, start, stop, reboot, destroy, recover, ISOs, volumes."""

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, ListResult, ObjectResult
from kvmcloud.server.errors import InvalidParameterError, NotFoundError
from kvmcloud.server.infrastructure.models import Host, Zone
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.models import ImageFormat, Template
from kvmcloud.server.vms import listing, service, views
from kvmcloud.server.vms.models import VirtualMachine, VmState

commands = CommandSet()
logger = logging.getLogger(__name__)

GIB = 1024**3
# Bound on deploys lost to a concurrent one taking the same address (see deploy).
MAX_ADDRESS_RACES = 64


def _own_vm(
    session: Session, ctx: ApiContext, vm_uuid: str, param_name: str = "id"
) -> VirtualMachine:
    vm = get_by_uuid(session, VirtualMachine, vm_uuid, command=ctx.command, param=param_name)
    if not ctx.caller.is_admin and vm.account_id != ctx.caller.account_id:
        raise NotFoundError(ctx.command, param_name, vm_uuid)
    return vm


def _may_use(ctx: ApiContext, template: Template) -> bool:
    """Admins use any image; others their own, public or featured ones."""
    own = template.account_id == ctx.caller.account_id
    return ctx.caller.is_admin or own or template.public or template.featured


# --- deploy -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployVirtualMachineParams:
    """Parameters of deployVirtualMachine."""

    zone_id: Uuid = param("availability zone for the virtual machine")
    service_offering_id: Uuid = param("the ID of the service offering for the virtual machine")
    template_id: Uuid = param("the ID of the template (or ISO) for the virtual machine")
    disk_offering_id: Uuid | None = param(
        "the ID of the disk offering; required for the root disk of a VM deployed from an ISO",
        default=None,
    )
    name: str | None = param("host name for the virtual machine", default=None)
    display_name: str | None = param(
        "an optional user generated name for the virtual machine", default=None
    )
    start_vm: bool | None = param(
        "true by default; false only creates the VM (Stopped)", default=None
    )
    host_id: Uuid | None = param("destination Host ID to deploy the VM to (admins)", default=None)
    root_disk_size: int | None = param(
        "the size of the ROOT disk in GB, at least the template's", default=None
    )
    hypervisor: str | None = param(
        "the hypervisor on which to deploy the virtual machine: KVM", default=None
    )
    network_ids: list[Uuid] | None = param(
        "list of network ids (accepted; guest networks come later)", default=None
    )
    details: dict[str, str] | None = param("details (accepted and ignored for now)", default=None)
    keypair: str | None = param(
        "name of the ssh key pair (accepted and ignored for now)", default=None
    )
    user_data: str | None = param(
        "user data (accepted and ignored for now)", length=1048576, default=None
    )
    group: str | None = param("an optional group for the virtual machine", default=None)


@commands.command(
    "deployVirtualMachine",
    DeployVirtualMachineParams,
    description="Creates and automatically starts a virtual machine based on a service offering, "
    "disk offering, and template.",
    response_key="virtualmachine",
    is_async=True,
)
def deploy_virtual_machine(ctx: ApiContext, params: DeployVirtualMachineParams) -> AsyncResult:
    """Create the VM and queue the job that places, downloads, creates the disk and starts it."""
    if params.hypervisor and params.hypervisor.upper() != "KVM":
        raise InvalidParameterError("hypervisor", "kvmcloud runs VMs on KVM only")
    if params.host_id and not ctx.caller.is_admin:
        raise InvalidParameterError("hostid", "Only root administrators may choose the host")
    # Deploys at the same moment read the same used addresses and pick the same lowest free
    # one (or, rarely, the same MAC); the NIC's unique constraints refuse all but one, and
    # the others read the addresses again. Every round commits at least one deploy.
    for race in range(1, MAX_ADDRESS_RACES + 1):
        try:
            return _create_vm(ctx, params)
        except IntegrityError as exc:
            if "nics" not in str(exc.orig) or race == MAX_ADDRESS_RACES:
                raise
            logger.info("deploy lost an address race (%d), trying again", race)
    raise AssertionError("unreachable")  # the loop returns or raises


def _create_vm(ctx: ApiContext, params: DeployVirtualMachineParams) -> AsyncResult:
    with ctx.db.transaction() as session:
        get = get_by_uuid
        zone = get(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        template = get(
            session, Template, params.template_id, command=ctx.command, param="templateid"
        )
        if not _may_use(ctx, template):
            raise NotFoundError(ctx.command, "templateid", params.template_id)
        offering = get(
            session,
            ServiceOffering,
            params.service_offering_id,
            command=ctx.command,
            param="serviceofferingid",
        )
        disk_offering = (
            get(
                session,
                DiskOffering,
                params.disk_offering_id,
                command=ctx.command,
                param="diskofferingid",
            )
            if params.disk_offering_id
            else None
        )
        host = (
            get(session, Host, params.host_id, command=ctx.command, param="hostid")
            if params.host_id
            else None
        )
        if params.root_disk_size is not None and params.root_disk_size < 1:
            raise InvalidParameterError(
                "rootdisksize", "rootdisksize must be a positive number of GB"
            )
        request = service.DeployRequest(
            zone=zone,
            template=template,
            offering=offering,
            disk_offering=disk_offering,
            name=params.name,
            display_name=params.display_name,
            start=params.start_vm is not False,
            host=host,
            root_disk_bytes=params.root_disk_size * GIB if params.root_disk_size else None,
        )
        vm, job_id = service.create_vm(
            session,
            request,
            account_id=ctx.caller.account_id,
            user_id=ctx.caller.user_id,
            rng=ctx.rng,
            now=ctx.clock(),
        )
        return AsyncResult(job_id, object_id=vm.uuid)


# --- list -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVirtualMachinesParams(ListParams):
    """Parameters of listVirtualMachines."""

    id: Uuid | None = param("the ID of the virtual machine", default=None)
    ids: list[Uuid] | None = param("the IDs of the virtual machines", default=None)
    name: str | None = param("name of the virtual machine", default=None)
    state: str | None = param("state of the virtual machine", default=None)
    zone_id: Uuid | None = param("the availability zone ID", default=None)
    host_id: Uuid | None = param("the host ID", default=None)
    template_id: Uuid | None = param("list vms by template", default=None)
    iso_id: Uuid | None = param("list vms by iso", default=None)


@commands.command(
    "listVirtualMachines",
    ListVirtualMachinesParams,
    description="List the virtual machines owned by the account.",
    response_key="virtualmachine",
)
def list_virtual_machines(ctx: ApiContext, params: ListVirtualMachinesParams) -> ListResult:
    """List VMs (removed ones are not shown; Destroyed ones are, until expunged)."""
    wanted = listing.VmFilter(
        list_all=bool(params.list_all),
        keyword=params.keyword,
        id=params.id,
        ids=params.ids,
        name=params.name,
        state=params.state,
        zone_id=params.zone_id,
        host_id=params.host_id,
        template_id=params.template_id,
        iso_id=params.iso_id,
    )
    records, total = listing.list_vms(ctx.db, wanted, params, caller=ctx.caller)
    return ListResult("virtualmachine", [views.vm_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVolumesParams(ListParams):
    """Parameters of listVolumes."""

    id: Uuid | None = param("the ID of the disk volume", default=None)
    virtual_machine_id: Uuid | None = param("the ID of the virtual machine", default=None)
    type: str | None = param("the type of disk volume: ROOT or DATADISK", default=None)
    zone_id: Uuid | None = param("the ID of the availability zone", default=None)
    storage_id: Uuid | None = param("the ID of the storage pool", default=None)


@commands.command(
    "listVolumes", ListVolumesParams, description="Lists all volumes.", response_key="volume"
)
def list_volumes(ctx: ApiContext, params: ListVolumesParams) -> ListResult:
    """List volumes of the caller's VMs (all VMs for admins)."""
    wanted = listing.VolumeFilter(
        list_all=bool(params.list_all),
        keyword=params.keyword,
        id=params.id,
        vm_id=params.virtual_machine_id,
        type=params.type,
        zone_id=params.zone_id,
        pool_id=params.storage_id,
    )
    records, total = listing.list_volumes(ctx.db, wanted, params, caller=ctx.caller)
    return ListResult("volume", [views.volume_response(r) for r in records], total)


# --- lifecycle ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VmIdParams:
    """The VM a lifecycle command acts on."""

    id: Uuid = param("The ID of the virtual machine")


@dataclass(frozen=True, slots=True, kw_only=True)
class StopVirtualMachineParams:
    """Parameters of stopVirtualMachine."""

    id: Uuid = param("The ID of the virtual machine")
    forced: bool | None = param("Force stop the VM (power off at once)", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DestroyVirtualMachineParams:
    """Parameters of destroyVirtualMachine."""

    id: Uuid = param("The ID of the virtual machine")
    expunge: bool | None = param("If true, expunge the VM and its volumes at once", default=None)


def _lifecycle(
    ctx: ApiContext,
    vm_uuid: str,
    *,
    allowed: tuple[VmState, ...],
    action: str,
    kind: str,
    cmd: str,
    payload: dict[str, object],
    transition: VmState | None = None,
) -> AsyncResult:
    with ctx.db.transaction() as session:
        vm = _own_vm(session, ctx, vm_uuid)
        service.require_state(vm, allowed, action)
        if transition is not None:
            vm.state = transition
        job_id = service.queue_vm_job(
            session,
            vm,
            kind=kind,
            cmd=cmd,
            payload=payload,
            account_id=ctx.caller.account_id,
            user_id=ctx.caller.user_id,
            now=ctx.clock(),
        )
        return AsyncResult(job_id)


@commands.command(
    "startVirtualMachine",
    VmIdParams,
    description="Starts a virtual machine.",
    response_key="virtualmachine",
    is_async=True,
)
def start_virtual_machine(ctx: ApiContext, params: VmIdParams) -> AsyncResult:
    """Queue a start of a Stopped (or Error) VM."""
    return _lifecycle(
        ctx,
        params.id,
        allowed=(VmState.STOPPED, VmState.ERROR),
        action="start",
        kind=service.START_JOB,
        cmd="StartVMCmd",
        payload={},
        transition=VmState.STARTING,
    )


@commands.command(
    "stopVirtualMachine",
    StopVirtualMachineParams,
    description="Stops a virtual machine.",
    response_key="virtualmachine",
    is_async=True,
)
def stop_virtual_machine(ctx: ApiContext, params: StopVirtualMachineParams) -> AsyncResult:
    """Queue a stop (ACPI shutdown, then power off; or power off at once with forced=true)."""
    return _lifecycle(
        ctx,
        params.id,
        allowed=(VmState.RUNNING,),
        action="stop",
        kind=service.STOP_JOB,
        cmd="StopVMCmd",
        payload={"forced": bool(params.forced)},
    )


@commands.command(
    "rebootVirtualMachine",
    VmIdParams,
    description="Reboots a virtual machine.",
    response_key="virtualmachine",
    is_async=True,
)
def reboot_virtual_machine(ctx: ApiContext, params: VmIdParams) -> AsyncResult:
    """Queue a reboot (a reset of the domain) of a Running VM."""
    return _lifecycle(
        ctx,
        params.id,
        allowed=(VmState.RUNNING,),
        action="reboot",
        kind=service.REBOOT_JOB,
        cmd="RebootVMCmd",
        payload={},
    )


@commands.command(
    "destroyVirtualMachine",
    DestroyVirtualMachineParams,
    description="Destroys a virtual machine.",
    response_key="virtualmachine",
    is_async=True,
)
def destroy_virtual_machine(ctx: ApiContext, params: DestroyVirtualMachineParams) -> AsyncResult:
    """Queue the destruction of a VM; expunge=true also deletes its volumes."""
    allowed: tuple[VmState, ...] = (VmState.RUNNING, VmState.STOPPED, VmState.ERROR)
    if params.expunge:
        allowed = (*allowed, VmState.DESTROYED)
    return _lifecycle(
        ctx,
        params.id,
        allowed=allowed,
        action="destroy",
        kind=service.DESTROY_JOB,
        cmd="DestroyVMCmd",
        payload={"expunge": bool(params.expunge)},
    )


@commands.command(
    "expungeVirtualMachine",
    VmIdParams,
    description="Expunge a virtual machine. Once expunged, it cannot be recoverd.",
    response_key="success",
    is_async=True,
    admin_only=True,
)
def expunge_virtual_machine(ctx: ApiContext, params: VmIdParams) -> AsyncResult:
    """Queue the expunge of a Destroyed VM."""
    return _lifecycle(
        ctx,
        params.id,
        allowed=(VmState.DESTROYED,),
        action="expunge",
        kind=service.DESTROY_JOB,
        cmd="ExpungeVMCmd",
        payload={"expunge": True},
    )


@commands.command(
    "recoverVirtualMachine",
    VmIdParams,
    description="Recovers a virtual machine.",
    response_key="virtualmachine",
)
def recover_virtual_machine(ctx: ApiContext, params: VmIdParams) -> ObjectResult:
    """Bring a Destroyed (not expunged) VM back as Stopped; its disks were kept."""
    with ctx.db.transaction() as session:
        vm = _own_vm(session, ctx, params.id)
        service.require_state(vm, (VmState.DESTROYED,), "recover")
        vm.state = VmState.STOPPED
        vm.error_text = None
        record = listing.vm_record(session, vm)
    return ObjectResult("virtualmachine", views.vm_response(record))


# --- ISOs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachIsoParams:
    """Parameters of attachIso."""

    id: Uuid = param("the ID of the ISO file")
    virtual_machine_id: Uuid = param("the ID of the virtual machine")


@dataclass(frozen=True, slots=True, kw_only=True)
class DetachIsoParams:
    """Parameters of detachIso."""

    virtual_machine_id: Uuid = param("The ID of the virtual machine")


@commands.command(
    "attachIso",
    AttachIsoParams,
    description="Attaches an ISO to a virtual machine.",
    response_key="virtualmachine",
    is_async=True,
)
def attach_iso(ctx: ApiContext, params: AttachIsoParams) -> AsyncResult:
    """Queue inserting a direct-download ISO (downloaded to the VM's pool first)."""
    with ctx.db.transaction() as session:
        iso = get_by_uuid(session, Template, params.id, command=ctx.command, param="id")
        if not _may_use(ctx, iso):
            raise NotFoundError(ctx.command, "id", params.id)
        if iso.format != ImageFormat.ISO:
            raise InvalidParameterError("id", f"{iso.name} is a template, not an ISO")
        vm = _own_vm(session, ctx, params.virtual_machine_id, "virtualmachineid")
        service.require_state(vm, (VmState.RUNNING, VmState.STOPPED), "attach an ISO to")
        job_id = service.queue_vm_job(
            session,
            vm,
            kind=service.ATTACH_ISO_JOB,
            cmd="AttachIsoCmd",
            payload={"iso_id": iso.id},
            account_id=ctx.caller.account_id,
            user_id=ctx.caller.user_id,
            now=ctx.clock(),
        )
        return AsyncResult(job_id)


@commands.command(
    "detachIso",
    DetachIsoParams,
    description="Detaches any ISO file (if any) currently attached to a virtual machine.",
    response_key="virtualmachine",
    is_async=True,
)
def detach_iso(ctx: ApiContext, params: DetachIsoParams) -> AsyncResult:
    """Queue ejecting the VM's ISO."""
    with ctx.db.transaction() as session:
        vm = _own_vm(session, ctx, params.virtual_machine_id, "virtualmachineid")
        service.require_state(vm, (VmState.RUNNING, VmState.STOPPED), "detach an ISO from")
        if vm.iso_id is None:
            raise InvalidParameterError("virtualmachineid", f"VM {vm.name} has no ISO attached")
        job_id = service.queue_vm_job(
            session,
            vm,
            kind=service.ATTACH_ISO_JOB,
            cmd="DetachIsoCmd",
            payload={"iso_id": None},
            account_id=ctx.caller.account_id,
            user_id=ctx.caller.user_id,
            now=ctx.clock(),
        )
        return AsyncResult(job_id)
