"""Storage pool maintenance and deletion: the checks, the plans, the records."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.agent_client import AgentClient, AgentEndpoint
from kvmcloud.server.db import Database
from kvmcloud.server.errors import (
    ApiError,
    InvalidParameterError,
    OperationFailedError,
    ResourceInUseError,
    ResourceUnavailableError,
)
from kvmcloud.server.infrastructure.models import StoragePool
from kvmcloud.server.infrastructure.pool_states import (
    PoolStatus,
    may_cancel_maintenance,
    may_delete,
    may_enter_maintenance,
)
from kvmcloud.server.infrastructure.records import PoolRecord, pool_records
from kvmcloud.server.infrastructure.service import endpoint_for, hosts_reaching_pool, pool_spec
from kvmcloud.server.jobs import queue
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.models import DownloadState, Template, TemplatePoolRef
from kvmcloud.server.vms.models import VirtualMachine, VmState, Volume, VolumeState

logger = logging.getLogger(__name__)

MAINTENANCE_JOB = "storage_maintenance"
CANCEL_MAINTENANCE_JOB = "cancel_storage_maintenance"
_PREPARE_CMD = (
    "org.apache.cloudstack.api.command.admin.storage.PreparePrimaryStorageForMaintenanceCmd"
)
_CANCEL_CMD = "org.apache.cloudstack.api.command.admin.storage.CancelPrimaryStorageMaintenanceCmd"
# VMs in these states have their disks open (or about to): a pool they use stays in service.
_ACTIVE_VM_STATES = (VmState.STARTING, VmState.RUNNING, VmState.STOPPING)
DELETE_FILE_TIMEOUT_S = 60.0
# How many names an error lists before saying "and N more".
_SHOWN = 5


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown if len(names) <= _SHOWN else f"{shown} and {len(names) - _SHOWN} more"


def allocated_bytes(session: Session, pool_ids: Sequence[int]) -> dict[int, int]:
    """The virtual sizes of the live volumes and the template copies on each pool, by id.

    As CloudStack's disksizeallocated: what the pool's disks may grow to, not what they
    take now (thin qcow2 overlays take far less).
    """
    ids = list(pool_ids)
    volumes = session.execute(
        select(Volume.pool_id, func.sum(Volume.size))
        .where(Volume.pool_id.in_(ids), Volume.removed.is_(None))
        .group_by(Volume.pool_id)
    ).all()
    copies = session.execute(
        select(TemplatePoolRef.pool_id, func.sum(TemplatePoolRef.template_size))
        .where(TemplatePoolRef.pool_id.in_(ids))
        .group_by(TemplatePoolRef.pool_id)
    ).all()
    sums: dict[int, int] = {}
    for pool_id, total in [*volumes, *copies]:
        if pool_id is not None:
            sums[pool_id] = sums.get(pool_id, 0) + int(total or 0)
    return sums


# --- maintenance ---------------------------------------------------------------------------


def _busy_reasons(session: Session, pool: StoragePool) -> list[str]:
    """Why ``pool`` cannot go into maintenance now: active VMs on it, downloads into it."""
    vms = session.execute(
        select(VirtualMachine.name, VirtualMachine.state)
        .outerjoin(Volume, (Volume.instance_id == VirtualMachine.id) & Volume.removed.is_(None))
        .where(
            (Volume.pool_id == pool.id) | (VirtualMachine.iso_pool_id == pool.id),
            VirtualMachine.removed.is_(None),
            VirtualMachine.state.in_(_ACTIVE_VM_STATES),
        )
        .distinct()
        .order_by(VirtualMachine.name)
    ).all()
    templates = session.scalars(
        select(Template.name)
        .join(TemplatePoolRef, TemplatePoolRef.template_id == Template.id)
        .where(
            TemplatePoolRef.pool_id == pool.id,
            TemplatePoolRef.download_state == DownloadState.DOWNLOAD_IN_PROGRESS,
        )
        .order_by(Template.name)
    ).all()
    reasons = []
    if vms:
        listed = _listed([f"{name} ({state})" for name, state in vms])
        reasons.append(f"VMs with disks or ISOs on it are active: {listed}; stop them first")
    if templates:
        reasons.append(f"templates are being downloaded into it: {_listed(list(templates))}")
    return reasons


def _refuse_if_busy(session: Session, pool: StoragePool) -> None:
    reasons = _busy_reasons(session, pool)
    if reasons:
        raise ResourceInUseError(
            f"Primary storage {pool.name} ({pool.uuid}) cannot enter maintenance: "
            + "; ".join(reasons)
        )


def queue_maintenance(
    db: Database, uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Start taking a pool out of service: PrepareForMaintenance now, the job finishes it.

    From PrepareForMaintenance on, placement and prepareTemplate leave the pool alone.
    Unlike CloudStack, which stops or migrates the VMs on the pool, kvmcloud refuses while
    VMs using the pool are active (or a template is being downloaded into it).

    Raises:
        NotFoundError: no live pool has this id.
        InvalidParameterError: the pool is not Up, Disabled or ErrorInMaintenance.
        ResourceInUseError: active VMs use the pool, or a download into it runs.
    """
    with db.transaction() as session:
        pool = get_by_uuid(session, StoragePool, uuid, command=command, param="id")
        if not may_enter_maintenance(pool.status):
            raise InvalidParameterError(
                "id",
                f"Primary storage with id {pool.uuid} is not ready for migration, as the "
                f"status is:{pool.status}",
            )
        _refuse_if_busy(session, pool)
        pool.status = PoolStatus.PREPARE_FOR_MAINTENANCE
        job = queue.enqueue(
            session,
            kind=MAINTENANCE_JOB,
            cmd=_PREPARE_CMD,
            payload={"pool_id": pool.id},
            now=clock(),
            account_id=caller.account_id,
            user_id=caller.user_id,
            instance_type="StoragePool",
            instance_uuid=pool.uuid,
        )
        return job.uuid


def finish_maintenance(db: Database, pool_id: int) -> PoolRecord:
    """Put a pool PrepareForMaintenance into Maintenance (enableStorageMaintenance's job).

    Checks again for active VMs and downloads (one may have begun before the pool left
    placement): then the pool becomes ErrorInMaintenance, as in CloudStack, and the job
    fails saying why. Run again on a pool already in Maintenance, it changes nothing.

    Raises:
        ResourceInUseError: the pool is still in use (it is now ErrorInMaintenance).
        OperationFailedError: the pool left PrepareForMaintenance meanwhile.
    """
    problem: ApiError | None = None
    with db.transaction() as session:
        pool = session.get_one(StoragePool, pool_id)
        if pool.removed is None and pool.status == PoolStatus.PREPARE_FOR_MAINTENANCE:
            try:
                _refuse_if_busy(session, pool)
                pool.status = PoolStatus.MAINTENANCE
            except ResourceInUseError as exc:
                pool.status = PoolStatus.ERROR_IN_MAINTENANCE
                problem = exc
        elif pool.removed is not None or pool.status != PoolStatus.MAINTENANCE:
            problem = OperationFailedError(
                f"Primary storage {pool.name} ({pool.uuid}) left PrepareForMaintenance "
                f"before its maintenance began: it is {pool.status}"
            )
        record = pool_records(session, [pool], allocated_bytes)[0]
    if problem is not None:
        raise problem
    return record


def queue_cancel_maintenance(
    db: Database, uuid: str, *, caller: Caller, clock: Callable[[], datetime], command: str
) -> str:
    """Queue bringing a pool in Maintenance (or ErrorInMaintenance) back Up.

    Raises:
        NotFoundError: no live pool has this id.
        ResourceUnavailableError: the pool is in no maintenance state (CloudStack's 534
            text).
    """
    with db.transaction() as session:
        pool = get_by_uuid(session, StoragePool, uuid, command=command, param="id")
        _check_cancellable(pool)
        job = queue.enqueue(
            session,
            kind=CANCEL_MAINTENANCE_JOB,
            cmd=_CANCEL_CMD,
            payload={"pool_id": pool.id},
            now=clock(),
            account_id=caller.account_id,
            user_id=caller.user_id,
            instance_type="StoragePool",
            instance_uuid=pool.uuid,
        )
        return job.uuid


def _check_cancellable(pool: StoragePool) -> None:
    if not may_cancel_maintenance(pool.status):
        raise ResourceUnavailableError(
            f"Primary storage with id {pool.uuid} is not ready to complete migration, as the "
            f"status is:{pool.status}"
        )


def cancel_maintenance(db: Database, pool_id: int) -> PoolRecord:
    """Bring a pool in maintenance back Up (cancelStorageMaintenance's job); Up stays Up."""
    with db.transaction() as session:
        pool = session.get_one(StoragePool, pool_id)
        if pool.removed is not None:
            raise OperationFailedError(f"Primary storage {pool.uuid} was deleted")
        if pool.status != PoolStatus.UP:
            _check_cancellable(pool)
            pool.status = PoolStatus.UP
        return pool_records(session, [pool], allocated_bytes)[0]


# --- deletion ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRemoval:
    """A file on the pool to delete before the pool goes: a template copy or a volume."""

    ref_id: int | None
    volume_id: int | None
    label: str
    command: msg.DeletePoolFileCommand


@dataclass(frozen=True, slots=True)
class DeletionPlan:
    """A pool to delete, the files to remove first, and the host to ask (None: no host)."""

    pool_id: int
    pool_name: str
    forced: bool
    endpoint: AgentEndpoint | None
    removals: list[FileRemoval] = field(default_factory=list)


def _nondestroyed_text(pool: StoragePool, volumes: list[str]) -> str:
    # CloudStack's text, then which volumes (CloudStack only logs them).
    return (
        f"Cannot delete pool {pool.name} as there are non-destroyed volumes associated to "
        f"this pool. Volumes: {_listed(volumes)}"
    )


def plan_deletion(session: Session, uuid: str, *, forced: bool, command: str) -> DeletionPlan:
    """Check that a pool may be deleted and list the files to remove from it first.

    The pool must be in Maintenance. Volumes keep it: without ``forced`` any volume not
    yet expunged; with ``forced`` the volumes of Destroyed (not yet expunged) VMs are
    expunged with the pool, as CloudStack expunges the pool's destroyed volumes, and any
    other volume keeps it. Template copies are removed with it.

    Raises:
        NotFoundError: no live pool has this id.
        InvalidParameterError: the pool is not in Maintenance.
        OperationFailedError: volumes keep the pool (CloudStack's 530 text).
        ResourceInUseError: a template is being downloaded into it.
        ResourceUnavailableError: files must be removed and no Up host reaches the pool
            (``forced`` forgets them instead, leaving the files).
    """
    pool = get_by_uuid(session, StoragePool, uuid, command=command, param="id")
    if not may_delete(pool.status):
        raise InvalidParameterError(
            "id",
            # CloudStack's text (before 4.20 named the pool this way too).
            "Unable to delete storage due to it is not in Maintenance state, id: "
            f"{pool.uuid} (pool {pool.name} is {pool.status})",
        )
    spec = pool_spec(pool)
    rows = session.execute(
        select(Volume, VirtualMachine)
        .outerjoin(VirtualMachine, Volume.instance_id == VirtualMachine.id)
        .where(Volume.pool_id == pool.id, Volume.removed.is_(None))
        .order_by(Volume.id)
    ).all()
    keeping = [
        f"{volume.name} ({f'VM {vm.name}, {vm.state}' if vm is not None else 'no VM'})"
        for volume, vm in rows
        if not forced or vm is None or vm.state != VmState.DESTROYED
    ]
    if keeping:
        raise OperationFailedError(_nondestroyed_text(pool, keeping))
    removals = [
        FileRemoval(
            None,
            volume.id,
            f"volume {volume.name}",
            msg.DeletePoolFileCommand(pool=spec, name=volume.path),
        )
        for volume, _vm in rows
    ]
    copies = session.execute(
        select(TemplatePoolRef, Template.name)
        .join(Template, Template.id == TemplatePoolRef.template_id)
        .where(TemplatePoolRef.pool_id == pool.id)
        .order_by(TemplatePoolRef.id)
    ).all()
    downloading = [
        name for ref, name in copies if ref.download_state == DownloadState.DOWNLOAD_IN_PROGRESS
    ]
    if downloading:
        raise ResourceInUseError(
            f"Templates are being downloaded into pool {pool.name}: {_listed(downloading)}; "
            "delete it when that finishes"
        )
    # A copy never published has no file name: only its row goes.
    removals.extend(
        FileRemoval(
            ref.id,
            None,
            f"copy of template {name}",
            msg.DeletePoolFileCommand(pool=spec, name=ref.local_path or ""),
        )
        for ref, name in copies
    )
    hosts = hosts_reaching_pool(session, pool)
    if removals and not hosts and not forced:
        raise ResourceUnavailableError(
            f"No Up KVM host reaches pool {pool.name} to remove its "
            f"{len(removals)} file(s) ({_listed([r.label for r in removals])}); bring one up, "
            "or pass forced=true to forget them and leave the files on the storage"
        )
    return DeletionPlan(
        pool_id=pool.id,
        pool_name=pool.name,
        forced=forced,
        endpoint=endpoint_for(hosts[0]) if hosts else None,
        removals=removals,
    )


def remove_files(agents: AgentClient, plan: DeletionPlan) -> tuple[list[FileRemoval], list[str]]:
    """Ask the plan's host to delete each file; return those gone and the failures' texts.

    Called with no transaction open. A copy never published (no file name) is gone already.
    """
    gone: list[FileRemoval] = []
    failures: list[str] = []
    for removal in plan.removals:
        if not removal.command.name:
            gone.append(removal)
            continue
        if plan.endpoint is None:
            failures.append(f"{removal.label}: no Up host reaches the pool")
            continue
        try:
            answer = agents.call(plan.endpoint, removal.command, timeout_s=DELETE_FILE_TIMEOUT_S)
            problem = None if answer.ok else (answer.error.message if answer.error else "refused")
        except ApiError as exc:
            problem = exc.message
        if problem is None:
            gone.append(removal)
        else:
            failures.append(f"{removal.label}: {problem}")
    return gone, failures


def record_deletion(
    session: Session,
    plan: DeletionPlan,
    gone: list[FileRemoval],
    now: datetime,
    *,
    remove_pool: bool,
) -> bool:
    """Forget the removed files' rows, and the pool itself when ``remove_pool``.

    The pool is removed only if it is still in Maintenance: a cancelStorageMaintenance
    (or another delete) while the host worked wins, and the pool stays. Returns whether
    this call removed it.
    """
    for removal in gone:
        if removal.ref_id is not None:
            ref = session.get(TemplatePoolRef, removal.ref_id)
            if ref is not None:
                session.delete(ref)
        if removal.volume_id is not None:
            volume = session.get(Volume, removal.volume_id)
            if volume is not None and volume.removed is None:
                volume.state = VolumeState.EXPUNGED
                volume.removed = now
    if remove_pool:
        pool = session.get_one(StoragePool, plan.pool_id)
        if pool.removed is None and may_delete(pool.status):
            pool.removed = now
            return True
    return False


def delete_storage_pool(
    db: Database,
    agents: AgentClient,
    uuid: str,
    *,
    forced: bool,
    clock: Callable[[], datetime],
    command: str,
) -> None:
    """Delete a pool in Maintenance: plan, remove its files through a host, then record.

    No transaction is open while the host works. A file the host could not delete keeps
    the pool (530 saying which), unless ``forced``: then its row is forgotten with the pool
    and the file stays on the storage (logged).
    """
    with db.transaction() as session:
        plan = plan_deletion(session, uuid, forced=forced, command=command)
    gone, failures = remove_files(agents, plan)
    if failures and forced:
        logger.warning(
            "deleting pool %s: files left on the storage: %s", plan.pool_name, "; ".join(failures)
        )
        gone = list(plan.removals)
    remove_pool = not failures or forced
    with db.transaction() as session:
        removed = record_deletion(session, plan, gone, clock(), remove_pool=remove_pool)
    if remove_pool and not removed:
        raise OperationFailedError(
            f"Storage pool {plan.pool_name} left Maintenance (or was deleted) while its files "
            "were removed: it was not deleted"
        )
    if failures and not forced:
        raise OperationFailedError(
            f"Failed to delete storage pool {plan.pool_name}: could not remove "
            f"{_listed(failures)}; pass forced=true to forget them and leave the files"
        )
