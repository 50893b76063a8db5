"""enqueue(session, …) in the caller's transaction; claim_next()/try_claim() by compare-and-set."""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kvmcloud.server.db import mark_jobs_queued
from kvmcloud.server.jobs.models import AsyncJob, JobStatus


def enqueue(
    session: Session,
    *,
    kind: str,
    cmd: str,
    payload: dict[str, Any],
    now: datetime,
    account_id: int | None = None,
    user_id: int | None = None,
    instance_type: str | None = None,
    instance_uuid: str | None = None,
) -> AsyncJob:
    """Add a pending job; it becomes visible to runners when the caller's transaction commits."""
    job = AsyncJob(
        kind=kind,
        job_cmd=cmd,
        payload=json.dumps(payload),
        account_id=account_id,
        user_id=user_id,
        instance_type=instance_type,
        instance_uuid=instance_uuid,
        job_status=JobStatus.PENDING,
        run_after=now,
        created=now,
        last_updated=now,
    )
    session.add(job)
    session.flush()
    mark_jobs_queued(session)
    return job


def claim_next(
    session: Session, owner: str, now: datetime, *, msid: str | None = None
) -> AsyncJob | None:
    """Claim the oldest runnable job for ``owner`` (a runner of server ``msid``), or None.

    The candidates are read first and claimed one by one with a compare-and-set, so two
    runners (or two management servers sharing a database) can race for a job and exactly
    one wins (on PostgreSQL and MariaDB the candidate is read ``FOR UPDATE SKIP LOCKED``).
    The server's lease (``mshost``) is what lets others take the job over if it dies.
    """
    query = (
        select(AsyncJob.id)
        .where(
            AsyncJob.job_status == JobStatus.PENDING,
            AsyncJob.owner.is_(None),
            AsyncJob.run_after <= now,
        )
        .order_by(AsyncJob.id)
    )
    if session.get_bind().dialect.name == "sqlite":
        # One writer at a time: nobody else can be claiming while this claims.
        query = query.limit(5)
    else:
        # PostgreSQL and MariaDB: lock the oldest runnable job that no other runner is
        # claiming right now (SKIP LOCKED), so racing runners take different jobs at once
        # instead of queueing on one row's lock. The compare-and-set below stays: it is
        # what makes a claim correct, the lock only spares the wait.
        query = query.limit(1).with_for_update(skip_locked=True)
    candidates = session.scalars(query).all()
    for job_id in candidates:
        job = try_claim(session, job_id, owner, now, msid=msid)
        if job is not None:
            return job
    return None


def try_claim(
    session: Session, job_id: int, owner: str, now: datetime, *, msid: str | None = None
) -> AsyncJob | None:
    """Claim job ``job_id`` for ``owner`` if it is still runnable now; None if it is not.

    The whole runnable condition is checked again in the UPDATE, not only "nobody owns it":
    between reading the candidates and claiming one, another runner may have run the job
    to its end or deferred it (both leave it without owner), and a claim that only looked
    at the owner ran such a job a second time.
    """
    result = session.execute(
        update(AsyncJob)
        .where(
            AsyncJob.id == job_id,
            AsyncJob.owner.is_(None),
            AsyncJob.job_status == JobStatus.PENDING,
            AsyncJob.run_after <= now,
        )
        .values(
            owner=owner,
            executing_msid=msid,
            attempts=AsyncJob.attempts + 1,
            last_updated=now,
        )
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(AsyncJob, job_id)


def finish(
    session: Session,
    job_id: int,
    *,
    status: JobStatus,
    code: int,
    result: dict[str, Any],
    now: datetime,
    msid: str | None = None,
) -> bool:
    """Record a job's outcome; False if ``msid`` no longer holds it (nothing is written).

    Pass ``msid`` from a runner: a job taken over by another server while this one was
    cut off from the database must not get two outcomes.
    """
    job = session.get(AsyncJob, job_id)
    if job is None or job.job_status != JobStatus.PENDING:
        return False
    if msid is not None and job.executing_msid != msid:
        return False
    job.job_status = status
    job.job_result_code = code
    job.job_result = json.dumps(result)
    if status is JobStatus.SUCCEEDED:
        job.job_process_status = 100
    job.completed = now
    job.last_updated = now
    job.owner = None
    job.executing_msid = None
    return True


def release(
    session: Session, job_id: int, *, delay_s: float, now: datetime, msid: str | None = None
) -> None:
    """Give a claimed job back to the queue, runnable again after ``delay_s``."""
    job = session.get(AsyncJob, job_id)
    if job is None or (msid is not None and job.executing_msid != msid):
        return
    job.owner = None
    job.executing_msid = None
    job.run_after = now + timedelta(seconds=delay_s)
    job.last_updated = now


def wake_waiting_jobs(session: Session, now: datetime) -> int:
    """Make every job deferred with RetryLater runnable now; return how many.

    Jobs defer only while another job downloads the copy they need, so the end of a
    download is when they can go on: they find the copy Ready (or claim it) at once
    instead of at the end of their delay.
    """
    result = session.execute(
        update(AsyncJob)
        .where(
            AsyncJob.job_status == JobStatus.PENDING,
            AsyncJob.owner.is_(None),
            AsyncJob.run_after > now,
        )
        .values(run_after=now)
    )
    woken = int(getattr(result, "rowcount", 0) or 0)
    if woken:
        mark_jobs_queued(session)
    return woken


def set_progress(session: Session, job_uuid: str, percent: int, now: datetime) -> None:
    """Record how far a running job is (0–100)."""
    session.execute(
        update(AsyncJob)
        .where(AsyncJob.uuid == job_uuid)
        .values(job_process_status=max(0, min(100, percent)), last_updated=now)
    )


def pending_job(
    session: Session, instance_uuid: str, *, kind: str | None = None
) -> AsyncJob | None:
    """A job (of ``kind``, or any) on this VM, template or account still queued or running."""
    query = select(AsyncJob).where(
        AsyncJob.instance_uuid == instance_uuid, AsyncJob.job_status == JobStatus.PENDING
    )
    if kind is not None:
        query = query.where(AsyncJob.kind == kind)
    return session.scalars(query.order_by(AsyncJob.id).limit(1)).first()


def latest_job(
    session: Session, *, kind: str, instance_uuid: str, since: datetime
) -> AsyncJob | None:
    """The newest job of ``kind`` on the instance queued at or after ``since``, if any."""
    return session.scalars(
        select(AsyncJob)
        .where(
            AsyncJob.kind == kind,
            AsyncJob.instance_uuid == instance_uuid,
            AsyncJob.created >= since,
        )
        .order_by(AsyncJob.id.desc())
        .limit(1)
    ).first()


def failure_text(job: AsyncJob) -> str:
    """The error text a failed job recorded."""
    result = json.loads(job.job_result) if job.job_result else {}
    text = result.get("errortext") if isinstance(result, dict) else None
    return str(text) if text else "the job failed"
