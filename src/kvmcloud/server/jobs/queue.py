"""enqueue(session, …) in the caller's transaction; claim_next() by portable compare-and-set."""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

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
    return job


def claim_next(session: Session, owner: str, now: datetime) -> AsyncJob | None:
    """Claim the oldest runnable job for ``owner``, or return None when there is none.

    The UPDATE only succeeds if nobody owns the row yet, so two runners (or two
    management servers sharing a database) can race for it and exactly one wins.
    """
    candidates = session.scalars(
        select(AsyncJob.id)
        .where(
            AsyncJob.job_status == JobStatus.PENDING,
            AsyncJob.owner.is_(None),
            AsyncJob.run_after <= now,
        )
        .order_by(AsyncJob.id)
        .limit(5)
    ).all()
    for job_id in candidates:
        result = session.execute(
            update(AsyncJob)
            .where(AsyncJob.id == job_id, AsyncJob.owner.is_(None))
            .values(owner=owner, attempts=AsyncJob.attempts + 1, last_updated=now)
        )
        if getattr(result, "rowcount", 0) == 1:
            return session.get(AsyncJob, job_id)
    return None


def finish(
    session: Session,
    job_id: int,
    *,
    status: JobStatus,
    code: int,
    result: dict[str, Any],
    now: datetime,
) -> None:
    """Record a job's outcome."""
    job = session.get(AsyncJob, job_id)
    if job is None:
        return
    job.job_status = status
    job.job_result_code = code
    job.job_result = json.dumps(result)
    if status is JobStatus.SUCCEEDED:
        job.job_process_status = 100
    job.completed = now
    job.last_updated = now
    job.owner = None


def release(session: Session, job_id: int, *, delay_s: float, now: datetime) -> None:
    """Give a claimed job back to the queue, runnable again after ``delay_s``."""
    job = session.get(AsyncJob, job_id)
    if job is not None:
        job.owner = None
        job.run_after = now + timedelta(seconds=delay_s)
        job.last_updated = now


def set_progress(session: Session, job_uuid: str, percent: int, now: datetime) -> None:
    """Record how far a running job is (0–100)."""
    session.execute(
        update(AsyncJob)
        .where(AsyncJob.uuid == job_uuid)
        .values(job_process_status=max(0, min(100, percent)), last_updated=now)
    )


def fail_orphans(session: Session, now: datetime, reason: str) -> list[AsyncJob]:
    """Fail jobs still claimed when this (single) management server starts again."""
    orphans = list(
        session.scalars(
            select(AsyncJob).where(
                AsyncJob.job_status == JobStatus.PENDING, AsyncJob.owner.is_not(None)
            )
        )
    )
    for job in orphans:
        finish(
            session,
            job.id,
            status=JobStatus.FAILED,
            code=530,
            result={"errorcode": 530, "errortext": reason},
            now=now,
        )
    return orphans
