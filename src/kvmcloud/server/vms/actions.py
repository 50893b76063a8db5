"""Requests on one VM the caller owns: start, stop, reboot, destroy, expunge, recover, ISOs."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.owners import check_access
from kvmcloud.server.db import Database
from kvmcloud.server.errors import (
    InvalidParameterError,
    ResourceUnavailableError,
    UnsupportedActionError,
)
from kvmcloud.server.jobs import queue
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.models import ImageFormat, Template
from kvmcloud.server.vms.listing import vm_record
from kvmcloud.server.vms.models import VirtualMachine, VmState
from kvmcloud.server.vms.records import VmRecord
from kvmcloud.server.vms.service import (
    ATTACH_ISO_JOB,
    DESTROY_JOB,
    REBOOT_JOB,
    START_JOB,
    STOP_JOB,
    check_may_use,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Action:
    """A lifecycle command: the states allowing it, its job, the state the VM takes at once."""

    verb: str
    allowed: tuple[VmState, ...]
    kind: str
    cmd: str
    transition: VmState | None = None


_START = _Action(
    verb="start",
    allowed=(VmState.STOPPED, VmState.ERROR),
    kind=START_JOB,
    cmd="StartVMCmd",
    transition=VmState.STARTING,
)
_STOP = _Action(verb="stop", allowed=(VmState.RUNNING,), kind=STOP_JOB, cmd="StopVMCmd")
_REBOOT = _Action(verb="reboot", allowed=(VmState.RUNNING,), kind=REBOOT_JOB, cmd="RebootVMCmd")
_DESTROY = _Action(
    verb="destroy",
    allowed=(VmState.RUNNING, VmState.STOPPED, VmState.ERROR),
    kind=DESTROY_JOB,
    cmd="DestroyVMCmd",
)
# With expunge=true a VM already Destroyed may be destroyed again, to expunge it.
_DESTROY_AND_EXPUNGE = _Action(
    verb="destroy",
    allowed=(*_DESTROY.allowed, VmState.DESTROYED),
    kind=DESTROY_JOB,
    cmd="DestroyVMCmd",
)
_EXPUNGE = _Action(
    verb="expunge", allowed=(VmState.DESTROYED,), kind=DESTROY_JOB, cmd="ExpungeVMCmd"
)


def queue_start(
    db: Database, vm_uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Queue a start of the caller's Stopped (or Error) VM; return the job's id."""
    return _queue_action(db, vm_uuid, _START, {}, caller=caller, clock=clock, command=command)


def queue_stop(
    db: Database,
    vm_uuid: str,
    *,
    forced: bool,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
) -> str:
    """Queue a stop (ACPI shutdown, then power off; or power off at once if forced)."""
    return _queue_action(
        db, vm_uuid, _STOP, {"forced": forced}, caller=caller, clock=clock, command=command
    )


def queue_reboot(
    db: Database, vm_uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Queue a reboot (a reset of the domain) of the caller's Running VM."""
    return _queue_action(db, vm_uuid, _REBOOT, {}, caller=caller, clock=clock, command=command)


def queue_destroy(
    db: Database,
    vm_uuid: str,
    *,
    expunge: bool,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
) -> str:
    """Queue the destruction of the caller's VM; with expunge, of its volumes too."""
    action = _DESTROY_AND_EXPUNGE if expunge else _DESTROY
    return _queue_action(
        db, vm_uuid, action, {"expunge": expunge}, caller=caller, clock=clock, command=command
    )


def queue_expunge(
    db: Database, vm_uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Queue the expunge of a Destroyed VM; its job answers a bare success, as CloudStack's."""
    payload: dict[str, object] = {"expunge": True, "answer_success": True}
    return _queue_action(
        db, vm_uuid, _EXPUNGE, payload, caller=caller, clock=clock, command=command
    )


def _queue_action(
    db: Database,
    vm_uuid: str,
    action: _Action,
    payload: dict[str, object],
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
) -> str:
    with db.transaction() as session:
        vm = own_vm(session, caller, vm_uuid, command=command)
        require_state(vm, action.allowed, action.verb)
        if action.transition is not None:
            vm.state = action.transition
        return queue_vm_job(
            session,
            vm,
            kind=action.kind,
            cmd=action.cmd,
            payload=payload,
            caller=caller,
            now=clock(),
        )


def recover_vm(db: Database, vm_uuid: str, *, caller: Caller, command: str) -> VmRecord:
    """Bring a Destroyed (not expunged) VM back as Stopped; its disks were kept."""
    with db.transaction() as session:
        vm = own_vm(session, caller, vm_uuid, command=command)
        require_state(vm, (VmState.DESTROYED,), "recover")
        vm.state = VmState.STOPPED
        vm.error_text = None
        return vm_record(session, vm)


def queue_attach_iso(
    db: Database,
    iso_uuid: str,
    vm_uuid: str,
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
) -> str:
    """Queue inserting an ISO the caller may use (downloaded to the VM's pool first)."""
    with db.transaction() as session:
        iso = get_by_uuid(session, Template, iso_uuid, command=command, param="id")
        check_may_use(session, caller, iso)
        if iso.format != ImageFormat.ISO:
            raise InvalidParameterError(
                "id", f"Invalid parameter id value={iso.uuid}: {iso.name} is a template, not an ISO"
            )
        vm = own_vm(session, caller, vm_uuid, command=command, param="virtualmachineid")
        require_state(vm, (VmState.RUNNING, VmState.STOPPED), "attach an ISO to")
        return queue_vm_job(
            session,
            vm,
            kind=ATTACH_ISO_JOB,
            cmd="AttachIsoCmd",
            payload={"iso_id": iso.id},
            caller=caller,
            now=clock(),
        )


def queue_detach_iso(
    db: Database, vm_uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Queue ejecting the ISO of the caller's VM."""
    with db.transaction() as session:
        vm = own_vm(session, caller, vm_uuid, command=command, param="virtualmachineid")
        require_state(vm, (VmState.RUNNING, VmState.STOPPED), "detach an ISO from")
        if vm.iso_id is None:
            raise InvalidParameterError(
                "virtualmachineid",
                f"Invalid parameter virtualmachineid value={vm.uuid}: "
                f"VM {vm.name} has no ISO attached",
            )
        return queue_vm_job(
            session,
            vm,
            kind=ATTACH_ISO_JOB,
            cmd="DetachIsoCmd",
            payload={"iso_id": None},
            caller=caller,
            now=clock(),
        )


def own_vm(
    session: Session, caller: Caller, vm_uuid: str, *, command: str, param: str = "id"
) -> VirtualMachine:
    """Load a live VM the caller may act on: their own, or an account's they administer.

    Raises:
        NotFoundError: no such VM (431 naming the parameter).
        PermissionDeniedError: the VM is another account's, out of the caller's reach (531).
    """
    vm = get_by_uuid(session, VirtualMachine, vm_uuid, command=command, param=param)
    check_access(session, caller, vm.account_id, f"VM instance {vm_uuid}")
    return vm


def queue_vm_job(
    session: Session,
    vm: VirtualMachine,
    *,
    kind: str,
    cmd: str,
    payload: dict[str, object],
    caller: Caller,
    now: datetime,
) -> str:
    """Queue a job on ``vm`` for the caller, in the open transaction; return the job's id."""
    return _enqueue(
        session,
        vm,
        kind=kind,
        cmd=cmd,
        payload=payload,
        account_id=caller.account_id,
        user_id=caller.user_id,
        now=now,
    )


def queue_expunge_for_owner_removal(
    session: Session, vm_uuid: str, *, account_id: int | None, user_id: int | None, now: datetime
) -> str:
    """Queue destroyVirtualMachine(expunge=true) of a VM whose account is being deleted.

    The job runs for ``account_id``/``user_id`` (whoever deletes the account), which
    checked their right to do so; the VM's own account can no longer act.
    """
    vm = _live_vm(session, vm_uuid)
    require_state(vm, _DESTROY_AND_EXPUNGE.allowed, _DESTROY_AND_EXPUNGE.verb)
    return _enqueue(
        session,
        vm,
        kind=_DESTROY_AND_EXPUNGE.kind,
        cmd=_DESTROY_AND_EXPUNGE.cmd,
        payload={"expunge": True},
        account_id=account_id,
        user_id=user_id,
        now=now,
    )


def queue_stop_for_owner_disabling(
    session: Session, vm_uuid: str, *, account_id: int | None, user_id: int | None, now: datetime
) -> str:
    """Queue stopVirtualMachine (not forced) of a VM whose account is being disabled."""
    vm = _live_vm(session, vm_uuid)
    require_state(vm, _STOP.allowed, _STOP.verb)
    return _enqueue(
        session,
        vm,
        kind=_STOP.kind,
        cmd=_STOP.cmd,
        payload={"forced": False},
        account_id=account_id,
        user_id=user_id,
        now=now,
    )


def _live_vm(session: Session, vm_uuid: str) -> VirtualMachine:
    vm = session.scalars(
        select(VirtualMachine).where(
            VirtualMachine.uuid == vm_uuid, VirtualMachine.removed.is_(None)
        )
    ).first()
    if vm is None:
        raise ResourceUnavailableError(f"VM {vm_uuid} no longer exists")
    return vm


def _enqueue(
    session: Session,
    vm: VirtualMachine,
    *,
    kind: str,
    cmd: str,
    payload: dict[str, object],
    account_id: int | None,
    user_id: int | None,
    now: datetime,
) -> str:
    job = queue.enqueue(
        session,
        kind=kind,
        cmd=f"org.apache.cloudstack.api.command.user.vm.{cmd}",
        payload={"vm_id": vm.id, **payload},
        now=now,
        account_id=account_id,
        user_id=user_id,
        instance_type="VirtualMachine",
        instance_uuid=vm.uuid,
    )
    return job.uuid


def require_state(vm: VirtualMachine, allowed: tuple[VmState, ...], action: str) -> None:
    """Refuse an action the VM's state does not allow, saying which states would."""
    if vm.state not in allowed:
        names = ", ".join(s.value for s in allowed)
        raise UnsupportedActionError(
            f"Cannot {action} VM {vm.name} in state {vm.state.value}; it must be {names}"
        )
