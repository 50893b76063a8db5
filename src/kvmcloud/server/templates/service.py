"""register_template(), list/delete, ensure-on-pool steps of the direct download, guest OS types."""

import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.checksums import Checksum
from kvmcloud.server.agent_client import AgentEndpoint
from kvmcloud.server.configuration import definitions as config
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import new_uuid
from kvmcloud.server.errors import (
    InvalidParameterError,
    ResourceInUseError,
    ResourceUnavailableError,
    UnsupportedActionError,
)
from kvmcloud.server.infrastructure.heartbeats import HostSeen
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.infrastructure.service import (
    endpoint_for,
    hosts_reaching_pool,
    pool_spec,
    up_hosts_in_zone,
)
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.queries import get_by_uuid
from kvmcloud.server.templates.models import (
    DownloadState,
    GuestOs,
    GuestOsCategory,
    ImageFormat,
    RefState,
    Template,
    TemplateDetail,
    TemplatePoolRef,
    TemplateStoreRef,
    TemplateZoneRef,
)

logger = logging.getLogger(__name__)

HTTP_HEADER_PREFIX = "HTTP_HEADER:"
METALINK_DETAIL = "kvmcloud.metalink"
DIRECT_DOWNLOAD_JOB = "direct_download"
DEFAULT_OS_TYPE = "Other Linux (64-bit)"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

GUEST_OS_SEED: dict[str, tuple[str, ...]] = {
    "Debian": ("Debian GNU/Linux 11 (64-bit)", "Debian GNU/Linux 12 (64-bit)"),
    "Ubuntu": ("Ubuntu 22.04 LTS", "Ubuntu 24.04 LTS"),
    "CentOS": ("CentOS 7", "Rocky Linux 9", "AlmaLinux 9"),
    "Other": ("Other Linux (64-bit)", "Other (64-bit)", "Other PV Virtio-SCSI (64-bit)"),
    "Windows": ("Windows Server 2022 (64-bit)",),
}


def seed_guest_os(session: Session) -> None:
    """Insert the built-in OS types that are missing."""
    categories = {c.name: c for c in session.scalars(select(GuestOsCategory))}
    known = set(session.scalars(select(GuestOs.display_name)))
    for category_name, names in GUEST_OS_SEED.items():
        category = categories.get(category_name)
        if category is None:
            category = GuestOsCategory(name=category_name)
            session.add(category)
            session.flush()
        for name in names:
            if name not in known:
                session.add(GuestOs(category_id=category.id, display_name=name))


# --- registration -------------------------------------------------------------------------


def parse_details(details: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``details[0].*`` into request headers (``HTTP_HEADER:<Name>``) and other details."""
    headers: dict[str, str] = {}
    others: dict[str, str] = {}
    for key, value in details.items():
        if not key.upper().startswith(HTTP_HEADER_PREFIX):
            others[key] = value
            continue
        name = key[len(HTTP_HEADER_PREFIX) :].strip()
        if not _HEADER_NAME.match(name):
            raise InvalidParameterError(
                "details", f"details key {key!r} does not name a valid HTTP header"
            )
        if any(ch in value for ch in "\r\n\x00"):
            raise InvalidParameterError(
                "details", f"the value of HTTP header {name} contains a line break"
            )
        headers[name] = value
    return headers, others


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRequest:
    """A validated registerTemplate/registerIso request."""

    name: str
    display_text: str
    url: str
    format: ImageFormat
    checksum: Checksum | None
    headers: dict[str, str]
    other_details: dict[str, str]
    zone_ids: Sequence[int]
    guest_os_id: int
    account_id: int
    public: bool = False
    featured: bool = False
    extractable: bool = False
    bootable: bool = True
    requires_hvm: bool = True
    password_enabled: bool = False
    sshkey_enabled: bool = False
    dynamically_scalable: bool = False
    bits: int = 64
    template_tag: str | None = None
    template_type: str = "USER"


@dataclass(frozen=True, slots=True)
class UrlCheckPlan:
    """The host chosen to check a URL and the command to send it."""

    endpoint: AgentEndpoint
    command: msg.CheckUrlCommand


def resolve_guest_os(session: Session, os_type_uuid: str | None, command: str) -> int:
    """Return the guest OS id for ``ostypeid``, defaulting to Other Linux (64-bit)."""
    if os_type_uuid:
        return get_by_uuid(session, GuestOs, os_type_uuid, command=command, param="ostypeid").id
    os_id = session.scalar(select(GuestOs.id).where(GuestOs.display_name == DEFAULT_OS_TYPE))
    if os_id is None:
        raise ResourceUnavailableError(
            f"Guest OS {DEFAULT_OS_TYPE!r} is missing; run kvmcloud-server init"
        )
    return os_id


def download_timeouts(session: Session) -> msg.Timeouts:
    """Read the direct-download timeouts from the global settings."""
    return msg.Timeouts(
        connect_s=get_value(session, config.CONNECT_TIMEOUT_MS) / 1000,
        read_s=get_value(session, config.SOCKET_TIMEOUT_MS) / 1000,
        request_s=get_value(session, config.CONNECTION_REQUEST_TIMEOUT_MS) / 1000,
        total_s=float(get_value(session, config.DOWNLOAD_WAIT_S)),
    )


def plan_url_check(
    session: Session, request: TemplateRequest, zones: Sequence[Zone], rng: random.Random
) -> UrlCheckPlan:
    """Pick a random Up KVM host in the first zone that has one, as CloudStack does."""
    for zone in zones:
        hosts = up_hosts_in_zone(session, zone.id)
        if hosts:
            host = rng.choice(hosts)
            command = msg.CheckUrlCommand(
                url=request.url,
                format=request.format.value,
                headers=request.headers,
                timeouts=download_timeouts(session),
                follow_redirects=get_value(session, config.FOLLOW_REDIRECTS),
            )
            return UrlCheckPlan(endpoint_for(host), command)
    names = ", ".join(z.name for z in zones)
    raise ResourceUnavailableError(
        f"Couldn't find an Up KVM host in zone {names} to validate the URL; add a host or wait "
        "until one is Up"
    )


def record_template(
    session: Session, request: TemplateRequest, check: msg.CheckUrlResult, now: datetime
) -> Template:
    """Write the template, its details, zone refs and the BYPASSED store ref."""
    template = Template(
        unique_name=new_uuid(),
        name=request.name,
        display_text=request.display_text,
        format=request.format,
        type=request.template_type,
        hypervisor_type="KVM",
        url=request.url,
        checksum=str(request.checksum) if request.checksum else None,
        direct_download=True,
        public=request.public,
        featured=request.featured,
        extractable=request.extractable,
        bootable=request.bootable,
        requires_hvm=request.requires_hvm,
        enable_password=request.password_enabled,
        sshkey_enabled=request.sshkey_enabled,
        dynamically_scalable=request.dynamically_scalable,
        bits=request.bits,
        template_tag=request.template_tag,
        guest_os_id=request.guest_os_id,
        account_id=request.account_id,
        size=check.virtual_size_bytes,
        physical_size=check.physical_size_bytes,
        created=now,
    )
    session.add(template)
    session.flush()
    for name, value in request.headers.items():
        session.add(
            TemplateDetail(template_id=template.id, name=f"{HTTP_HEADER_PREFIX}{name}", value=value)
        )
    for name, value in request.other_details.items():
        session.add(TemplateDetail(template_id=template.id, name=name, value=value))
    if check.metalink:
        # Found by the URL check (a Metalink media type): downloads must parse the document.
        session.add(
            TemplateDetail(
                template_id=template.id, name=METALINK_DETAIL, value="true", display=False
            )
        )
    for zone_id in request.zone_ids:
        session.add(TemplateZoneRef(template_id=template.id, zone_id=zone_id, created=now))
    # The direct-download marker CloudStack writes instead of a secondary-storage copy.
    session.add(
        TemplateStoreRef(
            store_id=None,
            template_id=template.id,
            store_role="Image",
            download_state=DownloadState.BYPASSED,
            state=RefState.READY,
            size=check.virtual_size_bytes or 0,
            physical_size=check.physical_size_bytes or 0,
            download_pct=0,
            url=request.url,
            created=now,
            last_updated=now,
        )
    )
    session.flush()
    return template


# --- reading ----------------------------------------------------------------------------------


def template_headers(session: Session, template_id: int) -> dict[str, str]:
    """Return the HTTP request headers stored for a template."""
    details = session.scalars(
        select(TemplateDetail).where(TemplateDetail.template_id == template_id)
    )
    return {
        d.name[len(HTTP_HEADER_PREFIX) :]: d.value
        for d in details
        if d.name.upper().startswith(HTTP_HEADER_PREFIX)
    }


def filtered_templates(
    *,
    isos: bool,
    filter_name: str,
    account_id: int,
    is_admin: bool,
    template_uuid: str | None,
    name: str | None,
    keyword: str | None,
    zone_id: int | None,
) -> Select[Template, TemplateZoneRef]:
    """Build the query for listTemplates/listIsos: one row per (template, zone)."""
    query = (
        select(Template, TemplateZoneRef)
        .join(TemplateZoneRef, TemplateZoneRef.template_id == Template.id)
        .where(Template.removed.is_(None), TemplateZoneRef.removed.is_(None))
        .order_by(Template.id, TemplateZoneRef.zone_id)
    )
    query = query.where(
        Template.format == ImageFormat.ISO if isos else Template.format != ImageFormat.ISO
    )
    own = Template.account_id == account_id
    if filter_name in ("self", "selfexecutable"):
        query = query.where(own)
    elif filter_name == "featured":
        query = query.where(Template.featured.is_(True))
    elif filter_name == "community":
        query = query.where(Template.public.is_(True), Template.featured.is_(False))
    elif filter_name == "sharedexecutable":
        query = query.where(Template.public.is_(True), ~own)
    elif filter_name == "executable" or not is_admin:
        query = query.where(own | Template.public.is_(True) | Template.featured.is_(True))
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


def pool_refs(session: Session, template_id: int) -> list[tuple[TemplatePoolRef, StoragePool]]:
    """Return the template's copies on pools, with the pools."""
    rows = session.execute(
        select(TemplatePoolRef, StoragePool)
        .join(StoragePool, TemplatePoolRef.pool_id == StoragePool.id)
        .where(TemplatePoolRef.template_id == template_id)
        .order_by(TemplatePoolRef.id)
    )
    return list(rows)


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


# --- direct download to pools -----------------------------------------------------------


def pools_to_prepare(session: Session, zone: Zone, pool: StoragePool | None) -> list[StoragePool]:
    """Return the pool asked for, or every Up pool of the zone."""
    if pool is not None:
        if pool.data_center_id != zone.id:
            raise InvalidParameterError(
                "storageid", f"Storage pool {pool.name} is not in zone {zone.name}"
            )
        return [pool]
    pools = list(
        session.scalars(
            select(StoragePool)
            .where(
                StoragePool.data_center_id == zone.id,
                StoragePool.removed.is_(None),
                StoragePool.status == "Up",
            )
            .order_by(StoragePool.id)
        )
    )
    if not pools:
        raise ResourceUnavailableError(
            f"Zone {zone.name} has no primary storage pool to prepare on"
        )
    return pools


def request_on_pool(
    session: Session,
    template: Template,
    pool: StoragePool,
    *,
    account_id: int,
    user_id: int,
    now: datetime,
) -> TemplatePoolRef:
    """Make sure a download of ``template`` to ``pool`` is done or under way; never start two.

    A Ready copy is reused (nothing is transferred). A download already queued or running
    is reused too. Otherwise the pool reference is (re)set and one job is enqueued in this
    transaction.
    """
    ref = get_or_create_pool_ref(session, template, pool, now)
    if ref.state == RefState.READY:
        return ref
    if ref.job_id and _job_pending(session, ref.job_id):
        return ref
    ref.download_state = DownloadState.NOT_DOWNLOADED
    ref.state = RefState.ALLOCATED
    ref.download_pct = 0
    ref.error_str = None
    ref.last_updated = now
    session.flush()
    job = queue.enqueue(
        session,
        kind=DIRECT_DOWNLOAD_JOB,
        cmd="org.apache.cloudstack.api.command.admin.template.PrepareTemplateCmd",
        payload={"ref_id": ref.id},
        now=now,
        account_id=account_id,
        user_id=user_id,
        instance_type="Template",
        instance_uuid=template.uuid,
    )
    ref.job_id = job.uuid
    return ref


def get_or_create_pool_ref(
    session: Session, template: Template, pool: StoragePool, now: datetime
) -> TemplatePoolRef:
    """Return the (template, pool) copy's row, creating it NOT_DOWNLOADED when missing."""
    if not template.direct_download:
        raise UnsupportedActionError(f"Template {template.name} is not a direct-download template")
    query = select(TemplatePoolRef).where(
        TemplatePoolRef.template_id == template.id, TemplatePoolRef.pool_id == pool.id
    )
    ref = session.scalars(query).first()
    if ref is None:
        # Jobs deploying the same new template race here: a plain INSERT let all but one
        # fail on the (pool_id, template_id) unique constraint. ON CONFLICT DO NOTHING
        # waits for the winner's commit and adds nothing; everyone then reads its row.
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(TemplatePoolRef)
            .values(
                pool_id=pool.id,
                template_id=template.id,
                local_path=_install_name(template),
                download_state=DownloadState.NOT_DOWNLOADED,
                state=RefState.ALLOCATED,
                created=now,
                last_updated=now,
            )
            .on_conflict_do_nothing(index_elements=["pool_id", "template_id"])
        )
        ref = session.scalars(query).one()
    return ref


class DownloadClaim(StrEnum):
    """What claim_download() found."""

    READY = "ready"
    CLAIMED = "claimed"
    BUSY = "busy"
    # The download failed after this job was queued: the job shares that outcome.
    FAILED = "failed"


def claim_download(session: Session, ref_id: int, job_uuid: str, now: datetime) -> DownloadClaim:
    """Make ``job_uuid`` the one job downloading this copy, unless it is Ready or taken.

    The UPDATE only matches while no other pending job holds the copy, so two jobs racing
    for the same (template, pool) cannot both start a transfer. A copy whose download
    failed after this job was queued is FAILED for it: the jobs that waited for that
    download (and the downloading job itself when it is resumed) share its outcome instead
    of each trying again, one after the other; a job queued later tries afresh.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        raise ResourceUnavailableError(f"Pool reference {ref_id} vanished before its download")
    if ref.state == RefState.READY:
        return DownloadClaim.READY
    holder = ref.job_id
    if holder and holder != job_uuid and _job_pending(session, holder):
        return DownloadClaim.BUSY
    if ref.download_state == DownloadState.DOWNLOAD_ERROR and _queued_before(
        session, job_uuid, ref.last_updated
    ):
        return DownloadClaim.FAILED
    result = session.execute(
        update(TemplatePoolRef)
        .where(
            TemplatePoolRef.id == ref_id,
            TemplatePoolRef.state != RefState.READY,
            (TemplatePoolRef.job_id == holder) if holder else TemplatePoolRef.job_id.is_(None),
        )
        .values(job_id=job_uuid, last_updated=now)
    )
    session.expire(ref)
    return DownloadClaim.CLAIMED if getattr(result, "rowcount", 0) == 1 else DownloadClaim.BUSY


def _queued_before(session: Session, job_uuid: str, moment: datetime | None) -> bool:
    created = session.scalar(select(AsyncJob.created).where(AsyncJob.uuid == job_uuid))
    return created is not None and moment is not None and created < moment


def _job_pending(session: Session, job_uuid: str) -> bool:
    status = session.scalar(select(AsyncJob.job_status).where(AsyncJob.uuid == job_uuid))
    return status == JobStatus.PENDING


def _install_name(template: Template) -> str:
    # A fresh name per pool copy, as CloudStack does; ISOs keep the .iso suffix.
    name = new_uuid()
    return f"{name}.iso" if template.format == ImageFormat.ISO else name


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """Everything the job needs to send the download, gathered in one short transaction."""

    ref_id: int
    template_name: str
    pool_name: str
    command: msg.DirectDownloadCommand
    candidates: Sequence[tuple[int, AgentEndpoint]]
    deadline_s: float
    max_attempts: int


def begin_download(
    session: Session, ref_id: int, now: datetime, *, preferred_host_id: int | None = None
) -> DownloadPlan | None:
    """Mark the pool copy as downloading and plan the command; None if it is Ready already.

    Hosts that reach the pool are the candidates, ``preferred_host_id`` (the host a VM will
    run on) first.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        raise ResourceUnavailableError(
            f"Pool reference {ref_id} vanished before its download started"
        )
    if ref.state == RefState.READY:
        return None
    template = session.get(Template, ref.template_id)
    pool = session.get(StoragePool, ref.pool_id)
    if template is None or pool is None or template.removed is not None or pool.removed is not None:
        raise ResourceUnavailableError(
            "The template or the pool was removed before the download started"
        )
    hosts = hosts_reaching_pool(session, pool)
    if not hosts:
        raise ResourceUnavailableError(
            f"No Up KVM host can reach pool {pool.name} to download template {template.name}"
        )
    assert ref.local_path is not None
    timeouts = download_timeouts(session)
    command = msg.DirectDownloadCommand(
        template_uuid=template.uuid,
        url=template.url,
        format=template.format.value,
        pool=pool_spec(pool),
        install_name=ref.local_path,
        checksum=template.checksum,
        headers=template_headers(session, template.id),
        timeouts=timeouts,
        follow_redirects=get_value(session, config.FOLLOW_REDIRECTS),
        metalink=is_metalink_template(session, template.id),
    )
    ref.download_state = DownloadState.DOWNLOAD_IN_PROGRESS
    ref.state = RefState.CREATING
    ref.download_pct = 0
    ref.error_str = None
    ref.last_updated = now
    return DownloadPlan(
        ref_id=ref.id,
        template_name=template.name,
        pool_name=pool.name,
        command=command,
        candidates=[
            (h.id, endpoint_for(h))
            for h in sorted(hosts, key=lambda h: (h.id != preferred_host_id, h.id))
        ],
        deadline_s=timeouts.total_s,
        max_attempts=get_value(session, config.DOWNLOAD_MAX_ATTEMPTS),
    )


def mark_for_cleanup(session: Session, ref_id: int) -> None:
    """Flag a pool copy the periodic cleanup should try to remove again."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is not None:
        ref.marked_for_gc = True


def forget_pool_copy(session: Session, ref_id: int) -> None:
    """Drop the row of a pool copy whose file was deleted."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is not None:
        session.delete(ref)


def download_error_of(session: Session, ref_id: int) -> str:
    """Return why the last download of a pool copy failed."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None or not ref.error_str:
        return f"The download of pool copy {ref_id} failed"
    return ref.error_str


def install_path_of(session: Session, ref_id: int) -> str:
    """Return where a Ready pool copy lives."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None or ref.install_path is None:
        raise ResourceUnavailableError(f"Pool copy {ref_id} has no install path")
    return ref.install_path


def record_progress(session: Session, ref_id: int, percent: int, now: datetime) -> None:
    """Store download progress on the pool copy."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is not None and ref.download_state == DownloadState.DOWNLOAD_IN_PROGRESS:
        ref.download_pct = percent
        ref.last_updated = now


def finish_download(
    session: Session, ref_id: int, host_id: int, result: msg.DirectDownloadResult, now: datetime
) -> TemplatePoolRef:
    """Record a verified copy on the pool: DOWNLOADED, Ready, install path and sizes."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        raise ResourceUnavailableError(f"Pool reference {ref_id} vanished during its download")
    ref.download_state = DownloadState.DOWNLOADED
    ref.state = RefState.READY
    ref.download_pct = 100
    ref.install_path = result.install_path
    ref.template_size = result.virtual_size_bytes
    ref.physical_size = result.physical_size_bytes
    ref.host_id = host_id
    ref.error_str = None
    ref.last_updated = now
    return ref


def fail_download(session: Session, ref_id: int, message: str, now: datetime) -> None:
    """Record why a download to a pool failed."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is not None and ref.state != RefState.READY:
        ref.download_state = DownloadState.DOWNLOAD_ERROR
        ref.state = RefState.ALLOCATED
        ref.error_str = message[:1024]
        ref.last_updated = now


def fail_abandoned_downloads(session: Session, now: datetime) -> int:
    """Fail copies left DOWNLOAD_IN_PROGRESS with no pending job behind them; return how many.

    The job holding a copy is its claim: while that job is pending (running, waiting, or
    taken over by another management server) the copy stays in progress; once it ended
    without recording a result, nothing will, so the copy must not stay in progress.
    """
    pending = select(AsyncJob.uuid).where(AsyncJob.job_status == JobStatus.PENDING)
    refs = list(
        session.scalars(
            select(TemplatePoolRef).where(
                TemplatePoolRef.download_state == DownloadState.DOWNLOAD_IN_PROGRESS,
                or_(TemplatePoolRef.job_id.is_(None), TemplatePoolRef.job_id.not_in(pending)),
            )
        )
    )
    for ref in refs:
        fail_download(
            session,
            ref.id,
            f"the job downloading it ({ref.job_id}) ended before the copy was ready "
            "(a management server stopped while it ran); deploy or prepare again",
            now,
        )
    return len(refs)


def detail_rows(session: Session, template_id: int) -> list[TemplateDetail]:
    """Return a template's details."""
    return list(
        session.scalars(select(TemplateDetail).where(TemplateDetail.template_id == template_id))
    )


def is_metalink_template(session: Session, template_id: int) -> bool:
    """Tell whether the URL check found a Metalink document at the template's URL."""
    query = select(TemplateDetail.id).where(
        TemplateDetail.template_id == template_id, TemplateDetail.name == METALINK_DETAIL
    )
    return session.scalar(query) is not None


def redacted_details(details: Sequence[TemplateDetail]) -> dict[str, Any]:
    """Details for API responses: header values are secrets (tokens) and never shown."""
    return {
        d.name: ("******" if d.name.upper().startswith(HTTP_HEADER_PREFIX) else d.value)
        for d in details
        if d.display
    }


STORAGE_CLEANUP_JOB = "storage_cleanup"


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


# --- pool inventories from heartbeats ----------------------------------------------------

# A copy recorded Ready this recently may have been published after the host listed the
# pool (the listing travels in a heartbeat): its absence proves nothing yet.
INVENTORY_GRACE_S = 60.0


@dataclass(frozen=True, slots=True)
class MissingCopy:
    """A Ready pool copy whose file a host did not find: reset so it is downloaded again."""

    template_name: str
    pool_name: str
    file_name: str


def after_heartbeat(session: Session, seen: HostSeen) -> None:
    """Reset Ready template copies whose files the host's pool listings lack (never delete).

    A host shutting down may list pools half unmounted: its listings are not used.
    """
    if seen.beat.shutting_down:
        return
    host = seen.host
    for inventory in seen.beat.pool_inventory:
        if inventory.stale_partials_removed:
            logger.info(
                "host %s removed %d stale partial files from pool %s when it started",
                host.name,
                inventory.stale_partials_removed,
                inventory.uuid,
            )
        if inventory.truncated:
            logger.info(
                "host %s listed only part of pool %s: its copies are not checked",
                host.name,
                inventory.uuid,
            )
            continue
        for copy in reconcile_pool_inventory(session, host, inventory, seen.now):
            logger.warning(
                "template %s: file %s is missing on pool %s per host %s; the copy is no "
                "longer Ready and is downloaded again when next needed",
                copy.template_name,
                copy.file_name,
                copy.pool_name,
                host.name,
            )


def reconcile_pool_inventory(
    session: Session, host: Host, inventory: msg.PoolInventory, now: datetime
) -> list[MissingCopy]:
    """Reset the Ready copies on a pool whose files ``host`` reports missing; return them.

    A reset copy is NOT_DOWNLOADED / Allocated with an ``error_str`` saying who missed the
    file, so the next deploy downloads it again instead of failing on a missing backing
    file. Files are never deleted here. Nothing is concluded when the listing was
    truncated, names another path than the pool's, comes from a host that does not reach
    the pool (by scope, Up and Enabled), or when the copy was updated within
    ``INVENTORY_GRACE_S``.
    """
    if inventory.truncated:
        return []
    pool = session.scalars(
        select(StoragePool).where(StoragePool.uuid == inventory.uuid, StoragePool.removed.is_(None))
    ).first()
    if pool is None or pool.path.rstrip("/") != inventory.path.rstrip("/"):
        return []
    if host.id not in {h.id for h in hosts_reaching_pool(session, pool)}:
        return []
    present = set(inventory.files)
    rows = session.execute(
        select(TemplatePoolRef, Template)
        .join(Template, TemplatePoolRef.template_id == Template.id)
        .where(
            TemplatePoolRef.pool_id == pool.id,
            TemplatePoolRef.state == RefState.READY,
            Template.removed.is_(None),
        )
        .order_by(TemplatePoolRef.id)
    )
    missing: list[MissingCopy] = []
    for ref, template in rows:
        name = ref.local_path
        if not name or name in present:
            continue
        if ref.last_updated is not None and (
            (now - ref.last_updated).total_seconds() <= INVENTORY_GRACE_S
        ):
            continue
        ref.download_state = DownloadState.NOT_DOWNLOADED
        ref.state = RefState.ALLOCATED
        ref.download_pct = 0
        ref.install_path = None
        ref.error_str = (
            f"The file {name} was missing on pool {pool.name} per host {host.name} at "
            f"{now.isoformat(timespec='seconds')}; it is downloaded again when next needed"
        )[:1024]
        ref.last_updated = now
        missing.append(MissingCopy(template.name, pool.name, name))
    return missing
