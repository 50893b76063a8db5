"""Template jobs: download a copy to a pool (prepare or deploy), extract, delete a template."""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.agent_client import AgentUnreachableError, error_from_answer
from kvmcloud.server.errors import ApiError, ResourceUnavailableError
from kvmcloud.server.events import catalog
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_job_event
from kvmcloud.server.infrastructure.models import StoragePool
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.runner import JobContext, RetryLater
from kvmcloud.server.templates import (
    copies,
    deletion,
    download_status,
    extraction,
    listing,
    views,
    zone_copies,
)
from kvmcloud.server.templates.deletion import PoolsInUse
from kvmcloud.server.templates.models import ImageFormat, Template, TemplatePoolRef
from kvmcloud.server.templates.retries import is_worth_another_host

logger = logging.getLogger(__name__)

# How soon a job waiting for another job's download of the same copy looks again.
BUSY_RETRY_S = 3.0
# How soon a job waiting for a peer copy (fan-out) looks again; the end of any download
# wakes it at once (queue.wake_waiting_jobs), this only bounds the longest wait's overrun.
FAN_OUT_RETRY_S = 5.0


def run_direct_download(ctx: JobContext) -> dict[str, Any]:
    """Put one template copy on one pool (the job prepareTemplate queues)."""
    ref_id = int(ctx.payload["ref_id"])
    _claim_or_wait(ctx, ref_id)
    download_to_pool(ctx, ref_id, on_percent=ctx.report_progress)
    return _result(ctx, ref_id)


def ensure_on_pool(
    ctx: JobContext,
    template_id: int,
    pool_id: int,
    *,
    preferred_host_id: int | None,
    on_percent: Callable[[int], None],
) -> str:
    """Return the install path of the template's Ready copy on the pool, downloading it first.

    Raises:
        RetryLater: another job is downloading the same copy; this job runs again later.
    """
    with ctx.db.transaction() as session:
        ref_id = copies.pool_copy_id(session, template_id, pool_id, ctx.clock())
    _claim_or_wait(ctx, ref_id)
    return download_to_pool(ctx, ref_id, preferred_host_id=preferred_host_id, on_percent=on_percent)


def _claim_or_wait(ctx: JobContext, ref_id: int) -> None:
    with ctx.db.transaction() as session:
        claim = copies.claim_download(session, ref_id, ctx.job_uuid, ctx.clock())
    if claim is copies.DownloadClaim.BUSY:
        raise RetryLater(BUSY_RETRY_S, f"another job is downloading pool copy {ref_id}")
    if claim is copies.DownloadClaim.CLAIMED:
        # Fan-out: the claim stays ours while we wait, so this pool's copy is never
        # started twice; another host's copy becomes our peer source.
        with ctx.db.transaction() as session:
            reason = copies.fan_out_wait(session, ref_id, ctx.job_uuid, ctx.clock())
        if reason is not None:
            raise RetryLater(FAN_OUT_RETRY_S, f"pool copy {ref_id}: {reason}")


def download_to_pool(
    ctx: JobContext,
    ref_id: int,
    *,
    preferred_host_id: int | None = None,
    on_percent: Callable[[int], None],
) -> str:
    """Send the DirectDownload for a claimed copy and record the outcome; return its path.

    Plan the attempts (one transaction), ask the planned hosts in turn with no transaction
    open (the agent may work for hours), then record what they answered (one transaction).
    """
    plan = _plan_download(ctx, ref_id, preferred_host_id)
    if isinstance(plan, copies.ReadyCopy):
        return plan.install_path
    recorder = _ProgressRecorder(ctx, ref_id, on_percent)
    attempts = _ask_hosts(ctx, plan, recorder)
    if attempts.downloaded is None:
        error = attempts.error()
        with ctx.db.transaction() as session:
            copies.fail_download(session, ref_id, error.message, ctx.clock())
            queue.wake_waiting_jobs(session, ctx.clock())
            _record_failure_event(ctx, session, plan, attempts.failures)
        raise error
    host_id, result = attempts.downloaded
    with ctx.db.transaction() as session:
        copies.finish_download(
            session, ref_id, host_id, result, ctx.clock(), received=recorder.received
        )
        queue.wake_waiting_jobs(session, ctx.clock())
        if plan.command.peers and result.sources:
            _record_sources_event(ctx, session, plan, host_id, result)
    logger.info(
        "template %s is on pool %s at %s", plan.template_name, plan.pool_name, result.install_path
    )
    return result.install_path


def _plan_download(
    ctx: JobContext, ref_id: int, preferred_host_id: int | None
) -> copies.DownloadPlan | copies.ReadyCopy:
    try:
        with ctx.db.transaction() as session:
            return copies.begin_download(
                session, ref_id, ctx.clock(), box=ctx.box, preferred_host_id=preferred_host_id
            )
    except ResourceUnavailableError as exc:
        # No attempt could even start (no Up host reaches the pool, or the template or
        # pool went away): still a failed download the operator must be able to find.
        with ctx.db.transaction() as session:
            copies.fail_unattempted(session, ref_id, exc.message, ctx.clock())
            queue.wake_waiting_jobs(session, ctx.clock())
            _record_unstarted_failure_event(ctx, session, ref_id, exc.message)
        raise


class _ProgressRecorder:
    """The progress callback of a download's attempts: stores bytes and percent on the copy.

    Each new percentage also goes to ``on_percent`` (the job's progress). Writes to the
    copy's row are bounded by ``download_status.is_worth_writing``.
    """

    def __init__(self, ctx: JobContext, ref_id: int, on_percent: Callable[[int], None]) -> None:
        self._ctx, self._ref_id, self._on_percent = ctx, ref_id, on_percent
        self._job_percent: int | None = None
        # The last (bytes done, bytes total) the host reported, for finish_download.
        self.received: tuple[int, int | None] = (0, None)
        self._written_percent: int | None = None
        self._written_done: int | None = None
        self._written_at: datetime | None = None

    def start_attempt(self, host_id: int, attempt: int) -> None:
        """Record that ``host_id`` is asked now; its progress starts from nothing."""
        now = self._ctx.clock()
        with self._ctx.db.transaction() as session:
            copies.start_attempt(session, self._ref_id, host_id=host_id, attempt=attempt, now=now)
        self.received = (0, None)
        self._written_percent = self._written_done = None
        self._written_at = None

    def __call__(self, done: int, total: int | None) -> None:
        self.received = (done, total)
        percent = download_status.percent_of(done, total)
        now = self._ctx.clock()
        since = (now - self._written_at).total_seconds() if self._written_at else None
        if download_status.is_worth_writing(
            percent=percent,
            written_percent=self._written_percent,
            done=done,
            written_done=self._written_done,
            since_written_s=since,
        ):
            with self._ctx.db.transaction() as session:
                copies.record_progress(
                    session, self._ref_id, done=done, total=total, percent=percent, now=now
                )
            self._written_percent, self._written_done, self._written_at = percent, done, now
        if percent != self._job_percent:
            self._job_percent = percent
            self._on_percent(percent)


@dataclass(frozen=True, slots=True)
class _Failure:
    """One host's failed attempt."""

    host_name: str
    error: ApiError
    # The error without the context every attempt shares, for the failure event.
    reason: str


@dataclass(frozen=True, slots=True)
class _Attempts:
    """What the hosts answered: the copy one of them installed, and the failures before."""

    downloaded: tuple[int, msg.DirectDownloadResult] | None
    failures: list[_Failure]

    def error(self) -> ApiError:
        """Return the last failure, listing every host's when more than one was tried."""
        last = self.failures[-1].error
        if len(self.failures) == 1:
            return last
        tried = "; ".join(f"{f.host_name}: {f.error.message}" for f in self.failures)
        return last.extended(f"(tried {len(self.failures)} hosts: {tried})")


def _ask_hosts(
    ctx: JobContext, plan: copies.DownloadPlan, on_progress: _ProgressRecorder
) -> _Attempts:
    """Ask the planned hosts in turn until one installs the copy or another could not help.

    Each attempt's host and start, and each failure, are written to the copy as they
    happen: listTemplates shows the host at work and the hosts that failed before it.
    """
    failures: list[_Failure] = []
    for attempt, (host_id, endpoint) in enumerate(plan.hosts, 1):
        context = (
            f"Template {plan.template_name} could not be downloaded to pool {plan.pool_name} "
            f"by host {endpoint.name}"
        )
        code = None
        on_progress.start_attempt(host_id, attempt)
        try:
            answer = ctx.agents.run(
                endpoint,
                f"{ctx.job_uuid}-{plan.ref_id}-{attempt}",
                plan.command,
                deadline_s=plan.deadline_s,
                on_progress=on_progress,
            )
            if answer.ok and isinstance(answer.result, msg.DirectDownloadResult):
                return _Attempts((host_id, answer.result), failures)
            code = answer.error.code if answer.error else None
            error: ApiError = error_from_answer(answer, context, url=plan.command.url)
        except AgentUnreachableError as exc:
            error = exc
        failure = _Failure(endpoint.name, error, error.message.removeprefix(f"{context}: "))
        failures.append(failure)
        with ctx.db.transaction() as session:
            copies.record_failed_attempt(
                session,
                plan.ref_id,
                host_id=host_id,
                host_name=failure.host_name,
                reason=failure.reason,
                now=ctx.clock(),
            )
        logger.warning("attempt %d of %s failed: %s", attempt, plan.template_name, error.message)
        if not is_worth_another_host(code):
            break
    return _Attempts(None, failures)


def _record_failure_event(
    ctx: JobContext,
    session: Session,
    plan: copies.DownloadPlan,
    failures: list[_Failure],
) -> None:
    """Record *.DIRECT.DOWNLOAD.FAILURE with every attempt, for the job's account.

    Level ERROR with the hosts' reasons, where CloudStack records INFO and hides the
    details from non-admins (reference section 9, item 13).
    """
    is_iso = plan.command.format == ImageFormat.ISO.value
    event_type, resource_type = catalog.download_failure_event(is_iso)
    record_job_event(
        session,
        ctx.job_id,
        type=event_type,
        level=EventLevel.ERROR,
        description=catalog.download_failure_description(
            is_iso=is_iso,
            name=plan.template_name,
            uuid=plan.command.template_uuid,
            pool=plan.pool_name,
            attempts=[catalog.Attempt(f.host_name, f.reason) for f in failures],
        ),
        resource_type=resource_type,
        resource_uuid=plan.command.template_uuid,
        now=ctx.clock(),
    )


def _record_sources_event(
    ctx: JobContext,
    session: Session,
    plan: copies.DownloadPlan,
    host_id: int,
    result: msg.DirectDownloadResult,
) -> None:
    """Record *.DIRECT.DOWNLOAD.SOURCES: which peers and the origin gave how many bytes."""
    is_iso = plan.command.format == ImageFormat.ISO.value
    event_type, resource_type = catalog.download_sources_event(is_iso)
    names = {endpoint_id: endpoint.name for endpoint_id, endpoint in plan.hosts}
    ref = session.get(TemplatePoolRef, plan.ref_id)
    recorded = download_status.recorded_sources(ref.download_sources if ref else None)
    record_job_event(
        session,
        ctx.job_id,
        type=event_type,
        level=EventLevel.INFO,
        description=catalog.download_sources_description(
            is_iso=is_iso,
            name=plan.template_name,
            uuid=plan.command.template_uuid,
            pool=plan.pool_name,
            host=names.get(host_id, str(host_id)),
            sources=[
                catalog.SourceUse(
                    "origin" if s.kind == "origin" else f"peer {s.hostname or s.hostid}",
                    s.bytes,
                    s.outcome,
                )
                for s in recorded
            ],
        ),
        resource_type=resource_type,
        resource_uuid=plan.command.template_uuid,
        now=ctx.clock(),
    )


def _record_unstarted_failure_event(
    ctx: JobContext, session: Session, ref_id: int, reason: str
) -> None:
    """Record *.DIRECT.DOWNLOAD.FAILURE for a download that no host could attempt."""
    ref = session.get(TemplatePoolRef, ref_id)
    template = session.get(Template, ref.template_id) if ref is not None else None
    pool = session.get(StoragePool, ref.pool_id) if ref is not None else None
    if template is None or pool is None:
        return
    is_iso = template.format == ImageFormat.ISO
    event_type, resource_type = catalog.download_failure_event(is_iso)
    record_job_event(
        session,
        ctx.job_id,
        type=event_type,
        level=EventLevel.ERROR,
        description=catalog.unattempted_download_description(
            is_iso=is_iso, name=template.name, uuid=template.uuid, pool=pool.name, reason=reason
        ),
        resource_type=resource_type,
        resource_uuid=template.uuid,
        now=ctx.clock(),
    )


def _result(ctx: JobContext, ref_id: int) -> dict[str, Any]:
    with ctx.db.transaction() as session:
        # prepareTemplate is a root admin's command: its result shows the hosts.
        record = listing.copy_record(session, ref_id)
        return {"template": views.template_response(record, show_hosts=True)}


def run_copy_template(ctx: JobContext) -> dict[str, Any]:
    """Register a direct-download template or ISO in more zones (copyTemplate, copyIso)."""
    zone_ids = [int(z) for z in ctx.payload["zone_ids"]]
    with ctx.db.transaction() as session:
        record = zone_copies.add_zones(
            session, int(ctx.payload["template_id"]), zone_ids, ctx.clock()
        )
        key = "iso" if record.template.format == ImageFormat.ISO else "template"
        return {key: views.template_response(record)}


def run_extract(ctx: JobContext) -> dict[str, Any]:
    """Answer an extract URL: signed, to a verified pool copy, or the registered URL.

    The registered URL is first checked from an Up host of the zone, with no transaction
    open; the signed URL needs no agent now: the bytes move when it is fetched.
    """
    with ctx.db.transaction() as session:
        plan = extraction.make_extract_url(
            session,
            dict(ctx.payload),
            box=ctx.box,
            settings=ctx.settings,
            now=ctx.clock(),
            rng=random.SystemRandom(),
        )
    extract = plan.extract
    if extract.pool_name is None:
        answer = None
        if plan.check is not None:
            try:
                answer = ctx.agents.call(
                    plan.check.endpoint, plan.check.command, timeout_s=plan.check.timeout_s
                )
            except AgentUnreachableError as exc:
                answer = msg.Answer(
                    ok=False, error=msg.ErrorInfo(code=ErrorCode.INTERNAL, message=exc.message)
                )
        extract = extraction.checked_extract(plan, answer)
    key = "iso" if extract.template.format == ImageFormat.ISO else "template"
    return {key: views.extract_response(extract)}


def run_delete_template(ctx: JobContext, *, pools_in_use: PoolsInUse) -> dict[str, Any]:
    """Delete a template or ISO and its unused copies on pools; say what happened to each."""
    template_id = int(ctx.payload["template_id"])
    with ctx.db.transaction() as session:
        deletion.retire_template(session, template_id, ctx.job_id, ctx.clock)
    removed, kept = remove_unused_copies(ctx, template_id, pools_in_use)
    details = []
    if removed:
        details.append(f"removed from pool(s) {', '.join(removed)}")
    if kept:
        details.append(
            f"kept on pool(s) {', '.join(kept)} while volumes use it; removed when unused"
        )
    return {"success": True, "displaytext": "; ".join(details)} if details else {"success": True}


def remove_unused_copies(
    ctx: JobContext, template_id: int, pools_in_use: PoolsInUse
) -> tuple[list[str], list[str]]:
    """Delete a removed template's copies from pools no volume uses; return (removed, kept).

    Copies still backing a volume (or inserted as a VM's ISO) are marked for collection and
    removed when their last user is expunged; so are copies on pools no Up host reaches.
    """
    with ctx.db.transaction() as session:
        removals, kept = deletion.plan_copy_removals(session, template_id, pools_in_use)
    removed = []
    for removal in removals:
        answer = ctx.agents.call(removal.endpoint, removal.command, timeout_s=60.0)
        if not answer.ok:
            logger.warning(
                "could not delete %s from pool %s: %s",
                removal.command.name,
                removal.pool_name,
                answer.error,
            )
            with ctx.db.transaction() as session:
                copies.mark_for_cleanup(session, removal.ref_id)
            kept.append(removal.pool_name)
            continue
        with ctx.db.transaction() as session:
            copies.forget_pool_copy(session, removal.ref_id)
        removed.append(removal.pool_name)
    return removed, kept


def run_storage_cleanup(ctx: JobContext, *, pools_in_use: PoolsInUse) -> dict[str, Any]:
    """Remove deleted templates' copies that nothing uses any more (the periodic cleanup)."""
    with ctx.db.transaction() as session:
        template_ids = deletion.deleted_templates_with_copies(session)
    removed: list[str] = []
    for template_id in template_ids:
        gone, _kept = remove_unused_copies(ctx, template_id, pools_in_use)
        removed.extend(gone)
    details = f"removed {len(removed)} unused template copies" if removed else "nothing to remove"
    return {"success": True, "displaytext": details}
