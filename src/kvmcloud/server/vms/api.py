"""VM and volume commands: deploy, list, start, stop, reboot, destroy, recover, ISOs, volumes."""

from dataclasses import dataclass

from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import (
    MAX_GIB,
    Entity,
    ListParams,
    Long,
    OwnerListParams,
    Uuid,
    param,
)
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import AsyncResult, ListResult, ObjectResult
from kvmcloud.server.errors import InvalidParameterError, shown
from kvmcloud.server.vms import actions, listing, service, views

commands = CommandSet()


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
    root_disk_size: Long | None = param(
        "the size of the ROOT disk in GB, at least the template's",
        minimum=1,
        maximum=MAX_GIB,
        default=None,
    )
    hypervisor: str | None = param(
        "the hypervisor on which to deploy the virtual machine: KVM", default=None
    )
    network_ids: list[Uuid] | None = param(
        "list of network ids used by virtual machine: one NIC per network, in this order, "
        "the first the default",
        default=None,
    )
    details: dict[str, str] | None = param("details (accepted and ignored for now)", default=None)
    keypair: str | None = param(
        "name of the ssh key pair (accepted and ignored for now)", default=None
    )
    user_data: str | None = param(
        "user data (accepted and ignored for now)", length=1048576, default=None
    )
    group: str | None = param("an optional group for the virtual machine", default=None)
    account: str | None = param(
        "an optional account for the virtual machine. Must be used with domainId.",
        length=100,
        default=None,
    )
    domain_id: Uuid | None = param(
        "an optional domainId for the virtual machine. If the account parameter is used, "
        "domainId must also be used.",
        entity=Entity.DOMAIN,
        default=None,
    )


@commands.command(
    "deployVirtualMachine",
    DeployVirtualMachineParams,
    description="Creates and automatically starts a virtual machine based on a service offering, "
    "disk offering, and template.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def deploy_virtual_machine(ctx: ApiContext, params: DeployVirtualMachineParams) -> AsyncResult:
    """Create the VM and queue the job that places, downloads, creates the disk and starts it."""
    if params.hypervisor and params.hypervisor.upper() != "KVM":
        raise InvalidParameterError(
            "hypervisor",
            f"Invalid parameter hypervisor value={shown(params.hypervisor)}: "
            "kvmcloud runs VMs on KVM only",
        )
    request = service.DeployRequest(
        zone_id=params.zone_id,
        template_id=params.template_id,
        service_offering_id=params.service_offering_id,
        disk_offering_id=params.disk_offering_id,
        host_id=params.host_id,
        name=params.name,
        display_name=params.display_name,
        start=params.start_vm is not False,
        root_disk_size=params.root_disk_size,
        account_name=params.account,
        domain_uuid=params.domain_id,
        network_ids=tuple(str(i) for i in params.network_ids or ()),
    )
    vm, job_id = service.deploy_vm(
        ctx.db, request, caller=ctx.caller, rng=ctx.rng, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id, object_id=vm.uuid)


# --- list -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVirtualMachinesParams(OwnerListParams):
    """Parameters of listVirtualMachines."""

    id: Uuid | None = param(
        "the ID of the virtual machine", entity=Entity.VIRTUAL_MACHINE, default=None
    )
    ids: list[Uuid] | None = param(
        "the IDs of the virtual machines", entity=Entity.VIRTUAL_MACHINE, default=None
    )
    name: str | None = param("name of the virtual machine", default=None)
    state: str | None = param("state of the virtual machine", default=None)
    zone_id: Uuid | None = param("the availability zone ID", entity=Entity.ZONE, default=None)
    host_id: Uuid | None = param("the host ID", entity=Entity.HOST, default=None)
    template_id: Uuid | None = param("list vms by template", entity=Entity.TEMPLATE, default=None)
    iso_id: Uuid | None = param("list vms by iso", entity=Entity.TEMPLATE, default=None)


@commands.command(
    "listVirtualMachines",
    ListVirtualMachinesParams,
    description="List the virtual machines owned by the account.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
)
def list_virtual_machines(ctx: ApiContext, params: ListVirtualMachinesParams) -> ListResult:
    """List VMs (removed ones are not shown; Destroyed ones are, until expunged)."""
    wanted = listing.VmFilter(
        owners=params.owner_filter(),
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
    records, total = listing.list_vms(
        ctx.db, wanted, params, caller=ctx.caller, command=ctx.command
    )
    return ListResult("virtualmachine", [views.vm_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListVolumesParams(OwnerListParams):
    """Parameters of listVolumes."""

    id: Uuid | None = param("the ID of the disk volume", entity=Entity.VOLUME, default=None)
    virtual_machine_id: Uuid | None = param(
        "the ID of the virtual machine", entity=Entity.VIRTUAL_MACHINE, default=None
    )
    type: str | None = param("the type of disk volume: ROOT or DATADISK", default=None)
    zone_id: Uuid | None = param(
        "the ID of the availability zone", entity=Entity.ZONE, default=None
    )
    storage_id: Uuid | None = param(
        "the ID of the storage pool", entity=Entity.STORAGE_POOL, default=None
    )


@commands.command(
    "listVolumes",
    ListVolumesParams,
    description="Lists all volumes.",
    response_key="volume",
    response=views.VOLUME,
)
def list_volumes(ctx: ApiContext, params: ListVolumesParams) -> ListResult:
    """List the volumes of the VMs the caller's filters reach."""
    wanted = listing.VolumeFilter(
        owners=params.owner_filter(),
        keyword=params.keyword,
        id=params.id,
        vm_id=params.virtual_machine_id,
        type=params.type,
        zone_id=params.zone_id,
        pool_id=params.storage_id,
    )
    records, total = listing.list_volumes(
        ctx.db, wanted, params, caller=ctx.caller, command=ctx.command
    )
    return ListResult("volume", [views.volume_response(r) for r in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListNicsParams(ListParams):
    """Parameters of listNics."""

    virtual_machine_id: Uuid = param("the ID of the vm", entity=Entity.VIRTUAL_MACHINE)
    nic_id: Uuid | None = param("the ID of the nic to to list IPs", entity=Entity.NIC, default=None)
    network_id: Uuid | None = param(
        "list nic of the specific vm's network", entity=Entity.NETWORK, default=None
    )


@commands.command(
    "listNics",
    ListNicsParams,
    description="list the vm nics  IP to NIC",
    response_key="nic",
    response=views.NIC,
)
def list_nics(ctx: ApiContext, params: ListNicsParams) -> ListResult:
    """List the NICs of a VM the caller may act on."""
    wanted = listing.NicFilter(
        vm_id=params.virtual_machine_id, nic_id=params.nic_id, network_id=params.network_id
    )
    nics, vm_uuid, total = listing.list_nics(
        ctx.db, wanted, params, caller=ctx.caller, command=ctx.command
    )
    items = [
        views.nic_response(nic, network) | {"virtualmachineid": vm_uuid} for nic, network in nics
    ]
    return ListResult("nic", items, total)


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


@commands.command(
    "startVirtualMachine",
    VmIdParams,
    description="Starts a virtual machine.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def start_virtual_machine(ctx: ApiContext, params: VmIdParams) -> AsyncResult:
    """Queue a start of a Stopped (or Error) VM."""
    job_id = actions.queue_start(
        ctx.db, params.id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)


@commands.command(
    "stopVirtualMachine",
    StopVirtualMachineParams,
    description="Stops a virtual machine.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def stop_virtual_machine(ctx: ApiContext, params: StopVirtualMachineParams) -> AsyncResult:
    """Queue a stop (ACPI shutdown, then power off; or power off at once with forced=true)."""
    job_id = actions.queue_stop(
        ctx.db,
        params.id,
        forced=bool(params.forced),
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
    )
    return AsyncResult(job_id)


@commands.command(
    "rebootVirtualMachine",
    VmIdParams,
    description="Reboots a virtual machine.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def reboot_virtual_machine(ctx: ApiContext, params: VmIdParams) -> AsyncResult:
    """Queue a reboot (a reset of the domain) of a Running VM."""
    job_id = actions.queue_reboot(
        ctx.db, params.id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)


@commands.command(
    "destroyVirtualMachine",
    DestroyVirtualMachineParams,
    description="Destroys a virtual machine.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def destroy_virtual_machine(ctx: ApiContext, params: DestroyVirtualMachineParams) -> AsyncResult:
    """Queue the destruction of a VM; expunge=true also deletes its volumes."""
    job_id = actions.queue_destroy(
        ctx.db,
        params.id,
        expunge=bool(params.expunge),
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
    )
    return AsyncResult(job_id)


@commands.command(
    "expungeVirtualMachine",
    VmIdParams,
    description="Expunge a virtual machine. Once expunged, it cannot be recoverd.",
    response_key="success",
    response=SUCCESS,
    is_async=True,
)
def expunge_virtual_machine(ctx: ApiContext, params: VmIdParams) -> AsyncResult:
    """Queue the expunge of a Destroyed VM."""
    job_id = actions.queue_expunge(
        ctx.db, params.id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)


@commands.command(
    "recoverVirtualMachine",
    VmIdParams,
    description="Recovers a virtual machine.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
)
def recover_virtual_machine(ctx: ApiContext, params: VmIdParams) -> ObjectResult:
    """Bring a Destroyed (not expunged) VM back as Stopped; its disks were kept."""
    record = actions.recover_vm(ctx.db, params.id, caller=ctx.caller, command=ctx.command)
    return ObjectResult("virtualmachine", views.vm_response(record))


# --- console log ------------------------------------------------------------------------


CONSOLE_LOG_DEFAULT_BYTES = 64 * 1024
CONSOLE_LOG_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleLogParams:
    """Parameters of getVirtualMachineConsoleLog."""

    id: Uuid = param("The ID of the virtual machine")
    bytes: int | None = param(
        f"how many trailing bytes of the log to return; default {CONSOLE_LOG_DEFAULT_BYTES}",
        minimum=1,
        maximum=CONSOLE_LOG_MAX_BYTES,
        default=None,
    )


@commands.command(
    "getVirtualMachineConsoleLog",
    ConsoleLogParams,
    description="Returns the tail of a virtual machine's serial console log (kvmcloud extension).",
    response_key="consolelog",
    response=views.CONSOLE_LOG,
)
def get_virtual_machine_console_log(ctx: ApiContext, params: ConsoleLogParams) -> ObjectResult:
    """Read the tail of the VM's console log from its host's agent."""
    console = service.read_console_log(
        ctx.db,
        ctx.agents,
        ctx.caller,
        params.id,
        max_bytes=params.bytes if params.bytes is not None else CONSOLE_LOG_DEFAULT_BYTES,
        command=ctx.command,
    )
    return ObjectResult("consolelog", views.console_log_response(console))


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
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def attach_iso(ctx: ApiContext, params: AttachIsoParams) -> AsyncResult:
    """Queue inserting a direct-download ISO (downloaded to the VM's pool first)."""
    job_id = actions.queue_attach_iso(
        ctx.db,
        params.id,
        params.virtual_machine_id,
        caller=ctx.caller,
        clock=ctx.clock,
        command=ctx.command,
    )
    return AsyncResult(job_id)


@commands.command(
    "detachIso",
    DetachIsoParams,
    description="Detaches any ISO file (if any) currently attached to a virtual machine.",
    response_key="virtualmachine",
    response=views.VIRTUAL_MACHINE,
    is_async=True,
)
def detach_iso(ctx: ApiContext, params: DetachIsoParams) -> AsyncResult:
    """Queue ejecting the VM's ISO."""
    job_id = actions.queue_detach_iso(
        ctx.db, params.virtual_machine_id, caller=ctx.caller, clock=ctx.clock, command=ctx.command
    )
    return AsyncResult(job_id)
