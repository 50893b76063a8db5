"""VM jobs: deploy/start (place → image on pool → volume → domain), stop, reboot, destroy, ISOs."""

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import AgentEndpoint, error_from_answer
from kvmcloud.server.errors import ApiError, ResourceUnavailableError
from kvmcloud.server.infrastructure.models import Host, StoragePool
from kvmcloud.server.infrastructure.service import endpoint_for, pool_spec
from kvmcloud.server.jobs.runner import JobContext, RetryLater
from kvmcloud.server.templates import jobs as template_jobs
from kvmcloud.server.templates.models import ImageFormat, Template
from kvmcloud.server.vms import hosting, listing, service, views
from kvmcloud.server.vms.models import VirtualMachine, VmState, Volume, VolumeState
from kvmcloud.server.vms.placement import choose_host_and_pool

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0
VOLUME_TIMEOUT_S = 300.0
GRACEFUL_STOP_S = 30.0


def _vm(session: Session, vm_id: int) -> VirtualMachine:
    vm = session.get(VirtualMachine, vm_id)
    if vm is None or vm.removed is not None:
        raise ResourceUnavailableError(f"VM {vm_id} no longer exists")
    return vm


def _result(ctx: JobContext, vm_id: int) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        record = listing.vm_record(session, _vm(session, vm_id))
    return {"virtualmachine": views.vm_response(record)}


def _call(
    endpoint: AgentEndpoint, ctx: JobContext, command: msg.Command, what: str, timeout_s: float
) -> msg.Answer:
    answer = ctx.agents.call(endpoint, command, timeout_s=timeout_s)
    if not answer.ok:
        raise error_from_answer(answer, f"{what} failed on host {endpoint.name}")
    return answer


def _mark(ctx: JobContext, vm_id: int, state: VmState, error: str | None) -> None:
    with ctx.db.transaction() as session:
        vm = session.get(VirtualMachine, vm_id)
        if vm is not None:
            vm.state = state
            vm.error_text = error
            vm.power_state_mismatches = 0
            if state != VmState.RUNNING and vm.host_id is not None:
                vm.last_host_id, vm.host_id = vm.host_id, None


# --- deploy and start -----------------------------------------------------------------------


def run_deploy_vm(ctx: JobContext) -> dict[str, Any]:
    """DeployVirtualMachine's job: start the VM unless startvm=false; Error if that fails."""
    vm_id = int(ctx.payload["vm_id"])
    if ctx.payload.get("start", True):
        _start_or_mark(ctx, vm_id, on_failure=VmState.ERROR)
    return _result(ctx, vm_id)


def run_start_vm(ctx: JobContext) -> dict[str, Any]:
    """StartVirtualMachine's job: a failed start leaves the VM Stopped with the reason."""
    _start_or_mark(ctx, int(ctx.payload["vm_id"]), on_failure=VmState.STOPPED)
    return _result(ctx, int(ctx.payload["vm_id"]))


def _start_or_mark(ctx: JobContext, vm_id: int, *, on_failure: VmState) -> None:
    try:
        start_vm(ctx, vm_id)
    except RetryLater:
        raise
    except ApiError as exc:
        _mark(ctx, vm_id, on_failure, exc.message[:1024])
        raise
    except Exception:
        # The runner logs it; the VM must not stay Starting with no job behind it.
        _mark(ctx, vm_id, on_failure, "internal error while starting; see the server log")
        raise


def start_vm(ctx: JobContext, vm_id: int) -> None:
    """Place the VM, put its image on the pool, create its root disk, start its domain."""
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        root = hosting.root_volume(session, vm)
        template = session.get(Template, vm.template_id)
        assert template is not None
        disk_pool_id = root.pool_id if root.state == VolumeState.READY else None
        pools = hosting.pool_candidates(session, vm, template.id, disk_pool_id=disk_pool_id)
        needs = hosting.needs_of(session, vm, template)
        if root.state == VolumeState.READY:
            # The disk exists: only hosts that reach its pool can run the VM, and that pool
            # stays right even if the offering's storage tags changed since it was chosen.
            needs = replace(needs, disk_pool_id=root.pool_id)
        placement = choose_host_and_pool(
            hosting.host_candidates(session, vm),
            pools,
            needs,
            down_pools=hosting.down_pool_names(session, vm),
        )
        moved = vm.last_host_id is not None and vm.last_host_id != placement.host_id
        vm.host_id = placement.host_id
        vm.state = VmState.STARTING
        vm.power_state_mismatches = 0
        vm.error_text = None
        root.pool_id = placement.pool_id
        vm.iso_pool_id = (placement.iso_pool_id or placement.pool_id) if vm.iso_id else None
        root_ready, template_id, iso_id = root.state == VolumeState.READY, template.id, vm.iso_id
        is_iso = template.format == ImageFormat.ISO
        host = session.get(Host, placement.host_id)
        assert host is not None
        endpoint = endpoint_for(host)
    host_id, pool_id, iso_pool_id = placement.host_id, placement.pool_id, placement.iso_pool_id
    if moved:
        _undefine_on_last_host(ctx, vm_id)

    def progress(percent: int) -> None:
        ctx.report_progress(percent * 9 // 10)

    if not root_ready:
        backing = None
        if not is_iso:
            backing = template_jobs.ensure_on_pool(
                ctx, template_id, pool_id, preferred_host_id=host_id, on_percent=progress
            )
        _create_root_volume(ctx, vm_id, endpoint, backing)
    iso_path = None
    if iso_id is not None:
        iso_path = template_jobs.ensure_on_pool(
            ctx, iso_id, iso_pool_id or pool_id, preferred_host_id=host_id, on_percent=progress
        )
    with ctx.db.transaction() as session:
        spec = hosting.vm_spec(session, _vm(session, vm_id), iso_path)
    answer = _call(
        endpoint, ctx, msg.StartVmCommand(spec=spec), f"Starting VM {spec.name}", START_TIMEOUT_S
    )
    assert isinstance(answer.result, msg.VmStateResult)
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        vm.state = VmState.RUNNING
        vm.host_id = vm.last_host_id = host_id
        vm.accelerator = answer.result.accelerator
        vm.console_log = answer.result.console_log
    logger.info(
        "VM %s is running on host %s (%s)", spec.name, endpoint.name, answer.result.accelerator
    )


def _create_root_volume(
    ctx: JobContext, vm_id: int, endpoint: AgentEndpoint, backing: str | None
) -> None:
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        root = hosting.root_volume(session, vm)
        pool = session.get(StoragePool, root.pool_id)
        assert pool is not None
        template = session.get(Template, root.template_id) if root.template_id else None
        command = msg.CreateVolumeCommand(
            pool=pool_spec(pool),
            name=root.path,
            size_bytes=root.size or None,
            backing_name=backing.rsplit("/", 1)[-1] if backing else None,
            backing_format=template.format.value if template is not None else None,
        )
        root_id = root.id
    answer = _call(
        endpoint, ctx, command, f"Creating the root disk of VM {vm_id}", VOLUME_TIMEOUT_S
    )
    assert isinstance(answer.result, msg.VolumeResult)
    with ctx.db.transaction() as session:
        created = session.get(Volume, root_id)
        assert created is not None
        created.state = VolumeState.READY
        created.size = answer.result.virtual_size_bytes
        created.physical_size = answer.result.physical_size_bytes


# --- stop, reboot, destroy ------------------------------------------------------------------


def _running_endpoint(
    ctx: JobContext, vm_id: int, transition: VmState | None
) -> tuple[str, AgentEndpoint | None]:
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        host = session.get(Host, vm.host_id) if vm.host_id else None
        if transition is not None:
            vm.state = transition
        return vm.instance_name, endpoint_for(host) if host is not None else None


def run_stop_vm(ctx: JobContext) -> dict[str, Any]:
    """StopVirtualMachine's job: ACPI shutdown then power off (or power off at once)."""
    vm_id, forced = int(ctx.payload["vm_id"]), bool(ctx.payload.get("forced", False))
    name, endpoint = _running_endpoint(ctx, vm_id, VmState.STOPPING)
    if endpoint is not None:
        command = msg.StopVmCommand(name=name, forced=forced, graceful_timeout_s=GRACEFUL_STOP_S)
        try:
            _call(endpoint, ctx, command, f"Stopping VM {name}", GRACEFUL_STOP_S + 60)
        except Exception as exc:
            text = exc.message if isinstance(exc, ApiError) else "internal error while stopping"
            _mark(ctx, vm_id, VmState.RUNNING, text[:1024])
            raise
    _mark(ctx, vm_id, VmState.STOPPED, None)
    return _result(ctx, vm_id)


def run_reboot_vm(ctx: JobContext) -> dict[str, Any]:
    """RebootVirtualMachine's job: reset the running domain."""
    vm_id = int(ctx.payload["vm_id"])
    name, endpoint = _running_endpoint(ctx, vm_id, None)
    if endpoint is None:
        raise ResourceUnavailableError(f"VM {name} is not on any host")
    _call(endpoint, ctx, msg.RebootVmCommand(name=name), f"Rebooting VM {name}", START_TIMEOUT_S)
    return _result(ctx, vm_id)


def run_destroy_vm(ctx: JobContext) -> dict[str, Any]:
    """DestroyVirtualMachine's job: power off and undefine; with expunge, delete its disks."""
    vm_id = int(ctx.payload["vm_id"])
    name, endpoint = _running_endpoint(ctx, vm_id, None)
    if endpoint is not None:
        _call(
            endpoint,
            ctx,
            msg.DestroyVmCommand(name=name),
            f"Destroying VM {name}",
            GRACEFUL_STOP_S + 60,
        )
    else:
        # A stopped VM's domain stays defined on its last host: remove that definition too.
        _undefine_on_last_host(ctx, vm_id)
    _mark(ctx, vm_id, VmState.DESTROYED, None)
    result = _result(ctx, vm_id)
    if ctx.payload.get("expunge"):
        expunge_vm(ctx, vm_id, ctx.clock)
        result["virtualmachine"]["state"] = VmState.EXPUNGING.value
    # expungeVirtualMachine answers SuccessResponse; destroyVirtualMachine the VM.
    return {"success": True} if ctx.payload.get("answer_success") else result


def _undefine_on_last_host(ctx: JobContext, vm_id: int) -> None:
    """Best effort: a host that is down keeps a stale definition, which nothing will start."""
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        host = session.get(Host, vm.last_host_id) if vm.last_host_id else None
        name, endpoint = vm.instance_name, endpoint_for(host) if host is not None else None
    if endpoint is None:
        return
    try:
        _call(endpoint, ctx, msg.DestroyVmCommand(name=name), f"Undefining VM {name}", 60.0)
    except ApiError as exc:
        logger.warning("left the definition of VM %s on its last host: %s", name, exc.message)


def expunge_vm(ctx: JobContext, vm_id: int, clock: Callable[[], datetime]) -> None:
    """Delete the VM's volume files and rows, free its NIC, remove it; release unused templates."""
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        work = []
        for volume in service.volumes_of(session, vm):
            pool = session.get(StoragePool, volume.pool_id) if volume.pool_id else None
            if pool is not None and volume.state == VolumeState.READY:
                endpoints = hosting.endpoints_for_pool(session, pool, vm.last_host_id)
                work.append((volume.id, pool_spec(pool), volume.path, endpoints[0][1]))
        template_ids = {vm.template_id} | ({vm.iso_id} if vm.iso_id else set())
    for _volume_id, spec, path, endpoint in work:
        command = msg.DeletePoolFileCommand(pool=spec, name=path)
        _call(endpoint, ctx, command, f"Deleting volume {path}", VOLUME_TIMEOUT_S)
    with ctx.db.transaction() as session:
        service.remove_vm(session, _vm(session, vm_id), clock())
    for template_id in template_ids:
        template_jobs.remove_unused_copies(ctx, template_id, service.pools_in_use)


# --- ISOs ----------------------------------------------------------------------------------


def run_attach_iso(ctx: JobContext) -> dict[str, Any]:
    """AttachIso/detachIso's job: insert the ISO (downloaded to the VM's pool) or eject it."""
    vm_id = int(ctx.payload["vm_id"])
    iso_id = ctx.payload.get("iso_id")
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        running = vm.state == VmState.RUNNING
        pool_id = hosting.root_volume(session, vm).pool_id
        host_id = vm.host_id
        if running and iso_id is not None and pool_id is not None:
            iso = session.get(Template, int(iso_id))
            assert iso is not None
            pool_id = hosting.iso_pool_id(session, vm, iso, pool_id)
    path = None
    if running and iso_id is not None and pool_id is not None:
        path = template_jobs.ensure_on_pool(
            ctx, int(iso_id), pool_id, preferred_host_id=host_id, on_percent=ctx.report_progress
        )
    if running:
        name, endpoint = _running_endpoint(ctx, vm_id, None)
        if endpoint is not None:
            command = msg.AttachIsoCommand(name=name, iso_path=path)
            _call(endpoint, ctx, command, f"Changing the CD-ROM of VM {name}", START_TIMEOUT_S)
    with ctx.db.transaction() as session:
        vm = _vm(session, vm_id)
        vm.iso_id = int(iso_id) if iso_id is not None else None
        # A stopped VM's ISO pool is chosen when it starts.
        vm.iso_pool_id = pool_id if path is not None else None
    return _result(ctx, vm_id)
