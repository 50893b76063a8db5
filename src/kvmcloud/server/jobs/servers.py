"""Management servers in the database: register, renew leases, find the lost, take over jobs."""

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exc, or_, select, update
from sqlalchemy.orm import Session

from kvmcloud.server.db import Database
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.leases import OrphanAction, decide_orphan, lease_expired
from kvmcloud.server.jobs.models import (
    AsyncJob,
    JobStatus,
    ManagementServer,
    ManagementServerState,
    PeriodicTaskRun,
)

logger = logging.getLogger(__name__)


def register(session: Session, *, msid: str, name: str, version: str, now: datetime) -> list[str]:
    """Record this server run as Up; mark earlier runs under the same name Down.

    Two processes cannot listen on one host:port, so an earlier run with this name that
    still says Up died without saying so: its jobs can be taken over at once instead of
    after its lease. Returns the msids retired that way.
    """
    previous = list(
        session.scalars(
            select(ManagementServer).where(
                ManagementServer.name == name,
                ManagementServer.state == ManagementServerState.UP,
                ManagementServer.msid != msid,
            )
        )
    )
    for server in previous:
        server.state = ManagementServerState.DOWN
        server.stopped = now
    session.add(
        ManagementServer(
            msid=msid,
            name=name,
            version=version,
            state=ManagementServerState.UP,
            started=now,
            last_seen=now,
        )
    )
    session.flush()
    return [server.msid for server in previous]


def renew(session: Session, msid: str, now: datetime) -> bool:
    """Extend this server's lease; return False if others had already declared it Down.

    A server that was declared Down may have had its jobs taken over; it is Up again from
    now on, and the jobs it still runs lose the race to record their outcome (see
    ``queue.finish``), so nothing is recorded twice.
    """
    server = session.scalars(select(ManagementServer).where(ManagementServer.msid == msid)).first()
    if server is None:
        return False
    was_up = server.state == ManagementServerState.UP
    server.state = ManagementServerState.UP
    server.stopped = None
    server.last_seen = now
    return was_up


def mark_stopped(session: Session, msid: str, now: datetime) -> None:
    """Record a clean shutdown: the server's unfinished jobs can be taken over at once."""
    session.execute(
        update(ManagementServer)
        .where(ManagementServer.msid == msid)
        .values(state=ManagementServerState.DOWN, stopped=now, last_seen=now)
    )


def declare_lost(session: Session, *, self_msid: str, now: datetime, lease_s: float) -> list[str]:
    """Mark Down every other server whose lease ran out; return their names."""
    lost = [
        server
        for server in session.scalars(
            select(ManagementServer).where(
                ManagementServer.state == ManagementServerState.UP,
                ManagementServer.msid != self_msid,
            )
        )
        if lease_expired(server.last_seen, now, lease_s)
    ]
    for server in lost:
        # Compare-and-set on last_seen: a server that renewed in between stays Up.
        session.execute(
            update(ManagementServer)
            .where(
                ManagementServer.id == server.id,
                ManagementServer.last_seen == server.last_seen,
            )
            .values(state=ManagementServerState.DOWN, stopped=now)
        )
    return [server.name for server in lost]


@dataclass
class Takeover:
    """What take_over_orphans() did."""

    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def take_over_orphans(
    session: Session,
    *,
    now: datetime,
    resumable: Collection[str],
    max_takeovers: int,
) -> Takeover:
    """Resume or fail the jobs claimed by servers that are not Up any more.

    A claimed job is an orphan when no Up server holds it: its server was declared Down
    (lease ran out, clean shutdown, or restarted under the same name) or is unknown.
    """
    live = select(ManagementServer.msid).where(ManagementServer.state == ManagementServerState.UP)
    orphans = list(
        session.scalars(
            select(AsyncJob).where(
                AsyncJob.job_status == JobStatus.PENDING,
                AsyncJob.owner.is_not(None),
                or_(AsyncJob.executing_msid.is_(None), AsyncJob.executing_msid.not_in(live)),
            )
        )
    )
    names = dict(session.execute(select(ManagementServer.msid, ManagementServer.name)).all())
    done = Takeover()
    for job in orphans:
        server_name = names.get(job.executing_msid or "", job.owner or "unknown")
        decision = decide_orphan(
            job.kind,
            job.takeovers,
            server_name=server_name,
            resumable=resumable,
            max_takeovers=max_takeovers,
        )
        if decision.action is OrphanAction.RESUME:
            job.owner = None
            job.executing_msid = None
            job.run_after = now
            job.last_updated = now
            job.takeovers += 1
            done.resumed.append(job.uuid)
        else:
            queue.finish(
                session,
                job.id,
                status=JobStatus.FAILED,
                code=530,
                result={"errorcode": 530, "errortext": decision.reason},
                now=now,
            )
            done.failed.append(job.uuid)
    return done


def claim_periodic_run(
    db: Database, *, name: str, interval_s: float, msid: str, now: datetime
) -> bool:
    """Advance the cluster-wide last run of task ``name`` if it is due; True if we did.

    Every server's scheduler asks; the compare-and-set on ``last_run`` lets exactly one of
    them run the task per interval. A tenth of the interval is forgiven so that ticks a
    little early still count.
    """
    due_before = now - timedelta(seconds=interval_s * 0.9)
    try:
        with db.transaction() as session:
            row = session.get(PeriodicTaskRun, name)
            if row is None:
                session.add(PeriodicTaskRun(name=name, last_run=now, msid=msid))
                session.flush()
                return True
            result = session.execute(
                update(PeriodicTaskRun)
                .where(PeriodicTaskRun.name == name, PeriodicTaskRun.last_run <= due_before)
                .values(last_run=now, msid=msid)
            )
            return getattr(result, "rowcount", 0) == 1
    except exc.IntegrityError:
        # Another server inserted the first row at the same moment: it runs this time.
        return False
