"""Deleting templates and ISOs: the job queued, the rows retired, unused pool copies removed."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.access import check_may_modify_image
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.owners import owner_path_for
from kvmcloud.server.agent_client import AgentEndpoint
from kvmcloud.server.db import Database
from kvmcloud.server.errors import NotFoundError, ResourceInUseError
from kvmcloud.server.events import catalog
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_job_event
from kvmcloud.server.infrastructure.service import endpoint_for, hosts_reaching_pool, pool_spec
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.copies import pool_refs
from kvmcloud.server.templates.models import (
    DownloadState,
    ImageFormat,
    RefState,
    Template,
    TemplatePoolRef,
    TemplateStoreRef,
    TemplateZoneRef,
)

DELETE_TEMPLATE_JOB = "delete_template"
DELETE_TEMPLATE_CMD = "org.apache.cloudstack.api.command.user.template.DeleteTemplateCmd"
DELETE_ISO_CMD = "org.apache.cloudstack.api.command.user.iso.DeleteIsoCmd"
STORAGE_CLEANUP_JOB = "storage_cleanup"

# How many live VMs were deployed from, or have inserted, a template: VMs are built on
# templates, so app.py passes vms' count in (ApiContext.hooks) rather than templates importing it.
CountUsers = Callable[[Session, int], int]
# Pools where live volumes (or VMs' inserted ISOs) still use a template: app.py passes
# vms.service.pools_in_use in, for the same reason.
PoolsInUse = Callable[[Session, int], set[int]]


def queue_deletion(
    db: Database,
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
    count_users: CountUsers,
    template_uuid: str,
    forced: bool,
    iso: bool,
) -> str:
    """Queue the deletion of a template or ISO the caller owns; return the job's uuid.

    One still used by VMs is deleted only when ``forced``.
    """
    with db.transaction() as session:
        template = get_by_uuid(session, Template, template_uuid, command=command, param="id")
        if (template.format == ImageFormat.ISO) != iso:
            raise NotFoundError(command, "id", template_uuid)
        check_may_modify_image(
            caller,
            owner_account_id=template.account_id,
            public=template.public,
            image_uuid=template_uuid,
            owner_domain_path=owner_path_for(session, caller, template.account_id),
        )
        users = count_users(session, template.id)
        if users and not forced:
            raise ResourceInUseError(
                f"{template.name} is used by {users} VM(s); pass forced=true to delete it anyway "
                "(copies in use stay on their pools until those VMs are expunged)"
            )
        return _enqueue(
            session, template, account_id=caller.account_id, user_id=caller.user_id, now=clock()
        )


def account_images(session: Session, account_id: int) -> list[tuple[str, str]]:
    """The account's live templates and ISOs as (uuid, "template <name>" or "ISO <name>")."""
    rows = session.execute(
        select(Template.uuid, Template.name, Template.format)
        .where(Template.removed.is_(None), Template.account_id == account_id)
        .order_by(Template.id)
    )
    return [
        (uuid, f"{'ISO' if fmt == ImageFormat.ISO else 'template'} {name}")
        for uuid, name, fmt in rows
    ]


def queue_deletion_for_owner_removal(
    session: Session,
    template_uuid: str,
    *,
    account_id: int | None,
    user_id: int | None,
    now: datetime,
) -> str:
    """Queue deleteTemplate (or deleteIso) of an image whose account is being deleted.

    As with forced=true, VMs of other accounts still using it do not hold it back: their
    copies stay on the pools until those VMs are expunged. The job runs for whoever
    deletes the account.
    """
    template = session.scalars(
        select(Template).where(Template.uuid == template_uuid, Template.removed.is_(None))
    ).first()
    if template is None:
        raise NotFoundError("deleteTemplate", "id", template_uuid)
    return _enqueue(session, template, account_id=account_id, user_id=user_id, now=now)


def _enqueue(
    session: Session,
    template: Template,
    *,
    account_id: int | None,
    user_id: int | None,
    now: datetime,
) -> str:
    iso = template.format == ImageFormat.ISO
    job = queue.enqueue(
        session,
        kind=DELETE_TEMPLATE_JOB,
        cmd=DELETE_ISO_CMD if iso else DELETE_TEMPLATE_CMD,
        payload={"template_id": template.id},
        now=now,
        account_id=account_id,
        user_id=user_id,
        instance_type="Iso" if iso else "Template",
        instance_uuid=template.uuid,
    )
    return job.uuid


def retire_template(
    session: Session, template_id: int, job_id: int, clock: Callable[[], datetime]
) -> None:
    """Remove a live template from listings and record TEMPLATE.DELETE or ISO.DELETE, once."""
    template = session.get(Template, template_id)
    if template is not None and template.removed is None:
        delete_template(session, template, clock())
        _record_delete_event(session, template, job_id, clock())


def delete_template(session: Session, template: Template, now: datetime) -> None:
    """Remove a template from listings; its store refs are destroyed.

    Copies already on primary storage are left for the pool cleanup of the VM issue: a
    template on a pool may back volumes.
    """
    busy = select(TemplatePoolRef.id).where(
        TemplatePoolRef.template_id == template.id,
        TemplatePoolRef.download_state == DownloadState.DOWNLOAD_IN_PROGRESS,
    )
    if session.scalar(busy) is not None:
        raise ResourceInUseError(
            f"Template {template.name} is being downloaded to a pool; delete it when that finishes"
        )
    template.removed = now
    template.state = "Inactive"
    for ref in session.scalars(
        select(TemplateStoreRef).where(TemplateStoreRef.template_id == template.id)
    ):
        ref.destroyed = True
        ref.state = RefState.DESTROYED
        ref.last_updated = now
    for zone_ref in session.scalars(
        select(TemplateZoneRef).where(TemplateZoneRef.template_id == template.id)
    ):
        zone_ref.removed = now


def _record_delete_event(session: Session, template: Template, job_id: int, now: datetime) -> None:
    """Record TEMPLATE.DELETE or ISO.DELETE: only the run that removes it gets here."""
    is_iso = template.format == ImageFormat.ISO
    event_type, resource_type = catalog.delete_event(is_iso)
    record_job_event(
        session,
        job_id,
        type=event_type,
        level=EventLevel.INFO,
        description=f"{'ISO' if is_iso else 'Template'} {template.name} ({template.uuid}) deleted",
        resource_type=resource_type,
        resource_uuid=template.uuid,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class CopyRemoval:
    """A deleted template's copy to remove from its pool, and the host to ask."""

    ref_id: int
    pool_name: str
    command: msg.DeletePoolFileCommand
    endpoint: AgentEndpoint


def plan_copy_removals(
    session: Session, template_id: int, pools_in_use: PoolsInUse
) -> tuple[list[CopyRemoval], list[str]]:
    """Plan removing a deleted template's unused copies; mark the others; return both.

    Copies still backing a volume (or inserted as a VM's ISO) are marked for collection and
    kept until their last user is expunged; so are copies on pools no Up host reaches.
    Returns the removals to ask hosts for and the names of the pools keeping a copy.
    """
    template = session.get(Template, template_id)
    if template is None or template.removed is None:
        return [], []
    in_use = pools_in_use(session, template_id)
    removals, kept = [], []
    for copy in pool_refs(session, template_id):
        ref, pool = copy.ref, copy.pool
        hosts = hosts_reaching_pool(session, pool)
        if ref.pool_id in in_use or not hosts or ref.local_path is None:
            ref.marked_for_gc = True
            kept.append(pool.name)
        else:
            command = msg.DeletePoolFileCommand(pool=pool_spec(pool), name=ref.local_path)
            removals.append(CopyRemoval(ref.id, pool.name, command, endpoint_for(hosts[0])))
    return removals, kept


def queue_storage_cleanup(session: Session, now: datetime) -> bool:
    """Queue one cleanup of deleted templates' pool copies unless one is already pending."""
    pending = select(AsyncJob.id).where(
        AsyncJob.kind == STORAGE_CLEANUP_JOB, AsyncJob.job_status == JobStatus.PENDING
    )
    if session.scalar(pending) is not None:
        return False
    queue.enqueue(
        session,
        kind=STORAGE_CLEANUP_JOB,
        cmd="com.cloud.storage.StorageManagerImpl.StorageGarbageCollector",
        payload={},
        now=now,
    )
    return True


def deleted_templates_with_copies(session: Session) -> list[int]:
    """Ids of deleted templates that still have copies on pools."""
    query = (
        select(Template.id)
        .join(TemplatePoolRef, TemplatePoolRef.template_id == Template.id)
        .where(Template.removed.is_not(None))
        .distinct()
    )
    return list(session.scalars(query))
