"""A template's copies on pools (template_spool_ref): request, claim, download, fail, forget."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.peer_grants import sign_grant
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.agent_client import AgentEndpoint
from kvmcloud.server.configuration import definitions as config
from kvmcloud.server.configuration.service import egress_rules, get_value, get_zone_value
from kvmcloud.server.db import Database, insert_unless_present, new_uuid
from kvmcloud.server.errors import (
    ApiError,
    InvalidParameterError,
    ResourceUnavailableError,
    UnsupportedActionError,
)
from kvmcloud.server.infrastructure.models import Cluster, Host, PoolScope, StoragePool, Zone
from kvmcloud.server.infrastructure.pool_states import IN_MAINTENANCE, PoolStatus
from kvmcloud.server.infrastructure.service import (
    endpoint_for,
    hosts_reaching_pool,
    pool_spec,
    up_hosts_in_zone,
)
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.models import AsyncJob, JobStatus
from kvmcloud.server.queries import get_by_uuid, get_by_uuid_if_given
from kvmcloud.server.sealing.box import (
    SealedValueError,
    SecretBox,
    agent_key_context,
    header_context,
)
from kvmcloud.server.templates import copy_states
from kvmcloud.server.templates.copy_states import CopyEvent, CopyState, transition
from kvmcloud.server.templates.details import (
    METALINK_DETAIL,
    header_name,
    is_header_detail,
)
from kvmcloud.server.templates.download_status import FailedAttempt, sources_json, with_failure
from kvmcloud.server.templates.fan_out import FanOutPolicy, ZoneCopy, wait_reason
from kvmcloud.server.templates.listing import template_records
from kvmcloud.server.templates.models import (
    DownloadState,
    ImageFormat,
    RefState,
    Template,
    TemplateDetail,
    TemplatePoolRef,
    TemplateZoneRef,
)
from kvmcloud.server.templates.peer_sources import (
    FILE_POOL_TYPES,
    CopyHolder,
    PeerPolicy,
    plan_peers,
)
from kvmcloud.server.templates.records import PoolCopy, TemplateRecord
from kvmcloud.server.templates.retries import hosts_to_try

logger = logging.getLogger(__name__)

DIRECT_DOWNLOAD_JOB = "direct_download"
PREPARE_TEMPLATE_CMD = "org.apache.cloudstack.api.command.admin.template.PrepareTemplateCmd"


# --- prepareTemplate ---------------------------------------------------------------------


def prepare_template(
    db: Database,
    *,
    caller: Caller,
    clock: Callable[[], datetime],
    command: str,
    template_uuid: str,
    zone_uuid: str,
    pool_uuid: str | None,
) -> TemplateRecord:
    """Start (or reuse) a download of the template to the pool, or to every Up pool of the zone."""
    with db.transaction() as session:
        template = get_by_uuid(
            session, Template, template_uuid, command=command, param="templateid"
        )
        zone = get_by_uuid(session, Zone, zone_uuid, command=command, param="zoneid")
        in_zone = select(TemplateZoneRef.id).where(
            TemplateZoneRef.template_id == template.id,
            TemplateZoneRef.zone_id == zone.id,
            TemplateZoneRef.removed.is_(None),
        )
        if session.scalar(in_zone) is None:
            raise InvalidParameterError(
                "zoneid",
                f"Invalid parameter zoneid value={zone.uuid}: template {template.name} is not "
                f"registered in zone {zone.name}",
            )
        pool = get_by_uuid_if_given(
            session, StoragePool, pool_uuid, command=command, param="storageid"
        )
        for target in pools_to_prepare(session, zone, pool):
            request_on_pool(
                session,
                template,
                target,
                account_id=caller.account_id,
                user_id=caller.user_id,
                now=clock(),
            )
        session.flush()
        (record,) = template_records(session, [(template, zone.id)])
        return record


def pools_to_prepare(session: Session, zone: Zone, pool: StoragePool | None) -> list[StoragePool]:
    """Return the pool asked for, or every Up pool of the zone."""
    if pool is not None:
        if pool.data_center_id != zone.id:
            raise InvalidParameterError(
                "storageid",
                f"Invalid parameter storageid value={pool.uuid}: storage pool {pool.name} is "
                f"not in zone {zone.name}",
            )
        if pool.status in IN_MAINTENANCE:
            # A pool being taken out of service gets no new copy.
            raise InvalidParameterError(
                "storageid",
                f"Invalid parameter storageid value={pool.uuid}: storage pool {pool.name} is "
                f"in {pool.status}",
            )
        return [pool]
    pools = list(
        session.scalars(
            select(StoragePool)
            .where(
                StoragePool.data_center_id == zone.id,
                StoragePool.removed.is_(None),
                StoragePool.status == PoolStatus.UP,
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
    requested = transition(state_of(ref), CopyEvent.REQUESTED)
    if requested is None:
        return ref
    if ref.job_id and _job_pending(session, ref.job_id):
        return ref
    set_state(ref, requested)
    ref.download_pct = 0
    ref.error_str = None
    forget_download(ref)
    ref.last_updated = now
    session.flush()
    job = queue.enqueue(
        session,
        kind=DIRECT_DOWNLOAD_JOB,
        cmd=PREPARE_TEMPLATE_CMD,
        payload={"ref_id": ref.id},
        now=now,
        account_id=account_id,
        user_id=user_id,
        instance_type="Template",
        instance_uuid=template.uuid,
    )
    ref.job_id = job.uuid
    return ref


# --- the copy's row -------------------------------------------------------------------------


def pool_copy_id(session: Session, template_id: int, pool_id: int, now: datetime) -> int:
    """Return the id of the template's copy on the pool, creating its row when missing."""
    template = session.get(Template, template_id)
    pool = session.get(StoragePool, pool_id)
    if template is None or pool is None:
        raise ApiError(f"Template {template_id} or pool {pool_id} no longer exists")
    return get_or_create_pool_ref(session, template, pool, now).id


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
        # fail on the (pool_id, template_id) unique constraint. insert_unless_present
        # waits for the winner's commit and adds nothing; everyone then reads its row.
        insert_unless_present(
            session,
            TemplatePoolRef,
            {
                "pool_id": pool.id,
                "template_id": template.id,
                "local_path": _install_name(template),
                "download_state": copy_states.NOT_DOWNLOADED.download_state,
                "state": copy_states.NOT_DOWNLOADED.state,
                "created": now,
                "last_updated": now,
            },
            ["pool_id", "template_id"],
        )
        ref = session.scalars(query).one()
    return ref


def state_of(ref: TemplatePoolRef) -> CopyState:
    """Return what the copy's state columns say."""
    return CopyState(ref.state, ref.download_state)


def set_state(ref: TemplatePoolRef, state: CopyState) -> None:
    """Write a state ``copy_states.transition()`` returned to the copy's columns."""
    ref.state = state.state
    ref.download_state = state.download_state


def forget_download(ref: TemplatePoolRef) -> None:
    """Clear what the copy's previous download recorded: a new one starts from nothing.

    ``host_id`` goes too: it names the host that downloaded the copy now on the pool, and
    a copy that is downloaded (again) has none.
    """
    ref.host_id = None
    ref.download_host_id = None
    ref.download_started = None
    ref.downloaded_bytes = 0
    ref.total_bytes = None
    ref.download_attempts = 0
    ref.download_failures = None
    ref.download_sources = None
    ref.image_checksum = None


def _install_name(template: Template) -> str:
    # A fresh name per pool copy, as CloudStack does; ISOs keep the .iso suffix.
    name = new_uuid()
    return f"{name}.iso" if template.format == ImageFormat.ISO else name


def pool_refs(session: Session, template_id: int) -> list[PoolCopy]:
    """Return the template's copies on pools, with the pools, oldest first."""
    rows = session.execute(
        select(TemplatePoolRef, StoragePool)
        .join(StoragePool, TemplatePoolRef.pool_id == StoragePool.id)
        .where(TemplatePoolRef.template_id == template_id)
        .order_by(TemplatePoolRef.id)
    )
    return [PoolCopy(ref, pool) for ref, pool in rows]


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


# --- one job downloads a copy ------------------------------------------------------------


class DownloadClaim(StrEnum):
    """What claim_download() found."""

    READY = "ready"
    CLAIMED = "claimed"
    BUSY = "busy"


def claim_download(session: Session, ref_id: int, job_uuid: str, now: datetime) -> DownloadClaim:
    """Make ``job_uuid`` the one job downloading this copy, unless it is Ready or taken.

    The UPDATE only matches while no other pending job holds the copy, so two jobs racing
    for the same (template, pool) cannot both start a transfer. A copy whose download
    failed after this job was queued fails this job with the same reason: the jobs that
    waited for that download (and the downloading job itself when it is resumed) share its
    outcome instead of each trying again, one after the other; a job queued later tries
    afresh.

    Raises:
        ResourceUnavailableError: the copy vanished, its download failed after this job
            was queued (that failure's event was recorded once, by the job that ran it), or
            its pool is in maintenance.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        raise ResourceUnavailableError(f"Pool reference {ref_id} vanished before its download")
    if copy_states.is_ready(state_of(ref)):
        return DownloadClaim.READY
    pool = session.get_one(StoragePool, ref.pool_id)
    if pool.status in IN_MAINTENANCE:
        # Queued before the pool left service: its maintenance keeps new copies off it.
        raise ResourceUnavailableError(
            f"Storage pool {pool.name} is in {pool.status}: no template is downloaded to it"
        )
    holder = ref.job_id
    if holder and holder != job_uuid and _job_pending(session, holder):
        return DownloadClaim.BUSY
    if copy_states.has_failed(state_of(ref)) and _queued_before(
        session, job_uuid, ref.last_updated
    ):
        raise ResourceUnavailableError(
            ref.error_str or f"The download of pool copy {ref_id} failed"
        )
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


def download_timeouts(session: Session) -> msg.Timeouts:
    """Read the direct-download timeouts from the global settings."""
    return msg.Timeouts(
        connect_s=get_value(session, config.CONNECT_TIMEOUT_MS) / 1000,
        read_s=get_value(session, config.SOCKET_TIMEOUT_MS) / 1000,
        request_s=get_value(session, config.CONNECTION_REQUEST_TIMEOUT_MS) / 1000,
        total_s=float(get_value(session, config.DOWNLOAD_WAIT_S)),
    )


def template_headers(session: Session, template: Template, box: SecretBox) -> dict[str, str]:
    """Return the HTTP request headers stored for a template, their values opened.

    Raises:
        SealedValueError: a stored value does not open with the loaded key file.
    """
    details = session.scalars(
        select(TemplateDetail).where(TemplateDetail.template_id == template.id)
    )
    return {
        header_name(d.name): box.open(d.value, header_context(template.uuid, d.name))
        for d in details
        if is_header_detail(d.name)
    }


def is_metalink_template(session: Session, template_id: int) -> bool:
    """Tell whether the URL check found a Metalink document at the template's URL."""
    query = select(TemplateDetail.id).where(
        TemplateDetail.template_id == template_id, TemplateDetail.name == METALINK_DETAIL
    )
    return session.scalar(query) is not None


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    """Everything the job needs to send the download, gathered in one short transaction."""

    ref_id: int
    template_name: str
    pool_name: str
    command: msg.DirectDownloadCommand
    # The hosts to ask in turn (retries.hosts_to_try), with how to reach each.
    hosts: Sequence[tuple[int, AgentEndpoint]]
    deadline_s: float


@dataclass(frozen=True, slots=True)
class ReadyCopy:
    """A copy that is on the pool already: nothing to download."""

    install_path: str


def begin_download(
    session: Session,
    ref_id: int,
    now: datetime,
    *,
    box: SecretBox,
    preferred_host_id: int | None = None,
) -> DownloadPlan | ReadyCopy:
    """Mark the pool copy as downloading and plan the attempts, unless it is Ready already.

    The hosts to ask are Up hosts that reach the pool, ``preferred_host_id`` (the host a
    VM will run on) first. The command carries the template's HTTP_HEADER values, opened
    from ``box``.

    Raises:
        ResourceUnavailableError: no attempt can start (the copy, its template or its pool
            is gone, or no Up host reaches the pool), or a Ready copy has no install path.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        raise ResourceUnavailableError(
            f"Pool reference {ref_id} vanished before its download started"
        )
    started = transition(state_of(ref), CopyEvent.STARTED)
    if started is None:
        if ref.install_path is None:
            raise ResourceUnavailableError(f"Pool copy {ref_id} has no install path")
        return ReadyCopy(ref.install_path)
    template = session.get(Template, ref.template_id)
    pool = session.get(StoragePool, ref.pool_id)
    if template is None or pool is None or template.removed is not None or pool.removed is not None:
        raise ResourceUnavailableError(
            "The template or the pool was removed before the download started"
        )
    hosts = {h.id: h for h in hosts_reaching_pool(session, pool)}
    if not hosts:
        raise ResourceUnavailableError(
            f"No Up KVM host can reach pool {pool.name} to download template {template.name}: "
            f"{_unreached_reason(session, pool)}"
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
        headers=template_headers(session, template, box),
        timeouts=timeouts,
        follow_redirects=get_value(session, config.FOLLOW_REDIRECTS),
        metalink=is_metalink_template(session, template.id),
        # The pool's zone decides where its hosts may download from.
        egress=egress_rules(session, pool.data_center_id),
        peers=peer_sources(session, template, pool, box=box, now=now, valid_s=timeouts.total_s),
    )
    to_try = hosts_to_try(
        hosts,
        destination_host_id=preferred_host_id,
        max_attempts=get_value(session, config.DOWNLOAD_MAX_ATTEMPTS),
    )
    set_state(ref, started)
    ref.download_pct = 0
    ref.error_str = None
    forget_download(ref)
    ref.last_updated = now
    return DownloadPlan(
        ref_id=ref.id,
        template_name=template.name,
        pool_name=pool.name,
        command=command,
        hosts=[(host_id, endpoint_for(hosts[host_id])) for host_id in to_try],
        deadline_s=timeouts.total_s,
    )


def peer_policy(session: Session, zone_id: int) -> PeerPolicy:
    """Return the zone's peer settings."""
    return PeerPolicy(
        enabled=get_zone_value(session, config.PEERS_ENABLED, zone_id),
        max_sources=get_zone_value(session, config.PEERS_MAX_SOURCES, zone_id),
        max_rate_mb=get_zone_value(session, config.PEER_MAX_RATE, zone_id),
        max_uploads=get_zone_value(session, config.PEER_MAX_UPLOADS, zone_id),
    )


def peer_sources(
    session: Session,
    template: Template,
    pool: StoragePool,
    *,
    box: SecretBox,
    now: datetime,
    valid_s: float,
) -> list[msg.PeerSource]:
    """Return the peers a download of ``template`` to ``pool`` tries before the origin.

    Each grant is signed with the serving host's agent key, opened from ``box`` here: the
    peer checks it with its own key, so it serves only the copy the server named.
    """
    zone_id = pool.data_center_id
    policy = peer_policy(session, zone_id)
    if not policy.enabled or policy.max_sources <= 0 or not template.checksum:
        return []
    up = {host.id: host for host in up_hosts_in_zone(session, zone_id)}
    rows = session.execute(
        select(TemplatePoolRef, StoragePool)
        .join(StoragePool, StoragePool.id == TemplatePoolRef.pool_id)
        .where(
            TemplatePoolRef.template_id == template.id,
            TemplatePoolRef.host_id.is_not(None),
            TemplatePoolRef.image_checksum.is_not(None),
            TemplatePoolRef.marked_for_gc.is_(False),
            StoragePool.removed.is_(None),
            StoragePool.status == PoolStatus.UP,
            StoragePool.data_center_id == zone_id,
        )
        .order_by(TemplatePoolRef.id)
    )
    holders = [
        CopyHolder(
            host_id=host.id,
            host_uuid=host.uuid,
            host_url=host.url,
            host_up=True,
            zone_id=holder_pool.data_center_id,
            pool_id=holder_pool.id,
            pool=pool_spec(holder_pool),
            install_name=ref.local_path,
            size_bytes=ref.physical_size,
            ready=state_of(ref) == copy_states.READY,
            image_checksum=ref.image_checksum,
        )
        for ref, holder_pool in rows
        if ref.host_id is not None and (host := up.get(ref.host_id)) is not None
    ]
    choices = plan_peers(
        checksum=template.checksum,
        destination_type=msg.PoolType(pool.pool_type.value),
        zone_id=zone_id,
        destination_pool_id=pool.id,
        destination_pool_uuid=pool.uuid,
        holders=holders,
        policy=policy,
        now_s=now.timestamp(),
        valid_s=valid_s,
    )
    sources = []
    for choice in choices:
        try:
            key = box.open(up[choice.host_id].agent_key, agent_key_context(choice.host_uuid))
        except SealedValueError as exc:
            # A peer is an optimisation: without its key the download goes on without it.
            logger.warning("peer %s left out: its agent key cannot be opened: %s", choice.url, exc)
            continue
        sources.append(
            msg.PeerSource(
                host_uuid=choice.host_uuid, url=choice.url, grant=sign_grant(choice.grant, key)
            )
        )
    return sources


def fan_out_wait(session: Session, ref_id: int, job_uuid: str, now: datetime) -> str | None:
    """Return why the claimed download of copy ``ref_id`` should wait for a peer copy, or None.

    ``fan_out.wait_reason`` decides from the template's other copies on the zone's Up file
    pools; the wait counts from the moment ``job_uuid`` was queued. A template without a
    checksum, or a destination that cannot take bytes from a peer (RBD), never waits.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        return None
    template = session.get(Template, ref.template_id)
    pool = session.get(StoragePool, ref.pool_id)
    if template is None or pool is None or not template.checksum:
        return None
    if msg.PoolType(pool.pool_type.value) not in FILE_POOL_TYPES:
        return None
    zone_id = pool.data_center_id
    policy = peer_policy(session, zone_id)
    fan_out = FanOutPolicy(
        peers_enabled=policy.enabled and policy.max_sources > 0,
        max_uploads=policy.max_uploads,
        max_wait_s=float(get_zone_value(session, config.PEERS_MAX_WAIT, zone_id)),
    )
    if not fan_out.peers_enabled or fan_out.max_wait_s <= 0:
        return None
    queued = session.scalar(select(AsyncJob.created).where(AsyncJob.uuid == job_uuid))
    waited_s = (now - queued).total_seconds() if queued is not None else 0.0
    up = {host.id for host in up_hosts_in_zone(session, zone_id)}
    pending = set(
        session.scalars(
            select(AsyncJob.uuid)
            .join(TemplatePoolRef, TemplatePoolRef.job_id == AsyncJob.uuid)
            .where(
                TemplatePoolRef.template_id == template.id,
                AsyncJob.job_status == JobStatus.PENDING,
            )
        )
    )
    rows = session.execute(
        select(TemplatePoolRef, StoragePool)
        .join(StoragePool, StoragePool.id == TemplatePoolRef.pool_id)
        .where(
            TemplatePoolRef.template_id == template.id,
            TemplatePoolRef.marked_for_gc.is_(False),
            StoragePool.removed.is_(None),
            StoragePool.status == PoolStatus.UP,
            StoragePool.data_center_id == zone_id,
        )
    )
    checksum = template.checksum.lower()
    copies = [
        ZoneCopy(
            ref_id=other.id,
            file_pool=msg.PoolType(other_pool.pool_type.value) in FILE_POOL_TYPES,
            ready=copy_states.is_ready(state_of(other)),
            verified=(other.image_checksum or "").lower() == checksum,
            host_up=other.host_id in up,
            downloading=copy_states.is_downloading(state_of(other)),
            job_pending=other.job_id in pending,
        )
        for other, other_pool in rows
    ]
    return wait_reason(own_ref_id=ref_id, copies=copies, policy=fan_out, waited_s=waited_s)


def _unreached_reason(session: Session, pool: StoragePool) -> str:
    """Say which hosts would reach the pool by its scope: its cluster's, its host, its zone's."""
    if pool.scope == PoolScope.HOST and pool.host_id is not None:
        host = session.get(Host, pool.host_id)
        return f"its host {host.name if host is not None else pool.host_id} is not Up"
    if pool.scope == PoolScope.CLUSTER and pool.cluster_id is not None:
        cluster = session.get(Cluster, pool.cluster_id)
        return f"no host of cluster {cluster.name if cluster is not None else '?'} is Up"
    zone = session.get(Zone, pool.data_center_id)
    return f"no host of zone {zone.name if zone is not None else '?'} is Up"


def fail_unattempted(session: Session, ref_id: int, reason: str, now: datetime) -> None:
    """Record a download no host could attempt: failed, with ``reason`` as its one failure.

    Without this the copy stayed Not Downloaded with no word of why nothing happens; the
    failure names no host (none was asked).
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        return
    failed = transition(state_of(ref), CopyEvent.FAILED)
    if failed is None:
        return
    forget_download(ref)
    ref.download_failures = with_failure(None, FailedAttempt(None, "", reason))
    set_state(ref, failed)
    ref.error_str = reason[:1024]
    ref.last_updated = now


def start_attempt(
    session: Session, ref_id: int, *, host_id: int, attempt: int, now: datetime
) -> None:
    """Record that ``host_id`` is asked now, as the download's ``attempt``-th host.

    The bytes start again from 0: a host never continues another host's transfer.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is not None and copy_states.is_downloading(state_of(ref)):
        ref.download_host_id = host_id
        ref.download_started = now
        ref.download_attempts = attempt
        ref.downloaded_bytes = 0
        ref.total_bytes = None
        ref.download_pct = 0
        ref.last_updated = now


def record_progress(
    session: Session, ref_id: int, *, done: int, total: int | None, percent: int, now: datetime
) -> None:
    """Store download progress on the pool copy: the bytes received, of how many, as percent.

    ``last_updated`` is the moment of these bytes: the rate is measured up to it.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is not None and copy_states.is_downloading(state_of(ref)):
        ref.download_pct = percent
        ref.downloaded_bytes = done
        ref.total_bytes = total
        ref.last_updated = now


def record_failed_attempt(
    session: Session, ref_id: int, *, host_id: int, host_name: str, reason: str, now: datetime
) -> None:
    """Add one host's failed attempt to the copy's failures, as soon as it failed."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None or not copy_states.is_downloading(state_of(ref)):
        return
    host = session.get(Host, host_id)
    failure = FailedAttempt(host.uuid if host is not None else None, host_name, reason)
    ref.download_failures = with_failure(ref.download_failures, failure)
    ref.last_updated = now


def finish_download(
    session: Session,
    ref_id: int,
    host_id: int,
    result: msg.DirectDownloadResult,
    now: datetime,
    *,
    received: tuple[int, int | None],
) -> TemplatePoolRef:
    """Record a verified copy on the pool: DOWNLOADED, Ready, install path, sizes and host.

    ``received`` is the last (bytes done, bytes total) the host reported; a source that
    announced no size turns out to have been as long as what was received.
    """
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        raise ResourceUnavailableError(f"Pool reference {ref_id} vanished during its download")
    downloaded = transition(state_of(ref), CopyEvent.DOWNLOADED)
    assert downloaded is not None, "a finished download is always recorded"
    set_state(ref, downloaded)
    ref.download_pct = 100
    ref.install_path = result.install_path
    ref.template_size = result.virtual_size_bytes
    ref.physical_size = result.physical_size_bytes
    ref.host_id = host_id
    ref.download_host_id = host_id
    done, total = received
    ref.downloaded_bytes = done
    ref.total_bytes = total if total is not None else done
    ref.image_checksum = result.image_checksum
    ref.download_sources = sources_json(result.sources, _host_names(session, result.sources))
    ref.error_str = None
    ref.last_updated = now
    return ref


def _host_names(session: Session, sources: Sequence[msg.ByteSource]) -> dict[str, str]:
    uuids = {source.host_uuid for source in sources if source.host_uuid}
    if not uuids:
        return {}
    hosts = session.scalars(select(Host).where(Host.uuid.in_(uuids)))
    return {host.uuid: host.name for host in hosts}


def fail_download(session: Session, ref_id: int, message: str, now: datetime) -> None:
    """Record why a download to a pool failed."""
    ref = session.get(TemplatePoolRef, ref_id)
    if ref is None:
        return
    failed = transition(state_of(ref), CopyEvent.FAILED)
    if failed is None:
        return
    set_state(ref, failed)
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
