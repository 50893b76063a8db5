"""Job tables: async_job, mshost (management servers and their leases), periodic_task_run."""

from datetime import datetime
from enum import IntEnum, StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class JobStatus(IntEnum):
    """queryAsyncJobResult's jobstatus values."""

    PENDING = 0
    SUCCEEDED = 1
    FAILED = 2


class AsyncJob(Base):
    """One unit of background work, claimed by a runner with compare-and-set on ``owner``."""

    __tablename__ = "async_job"
    __table_args__ = (Index("ix_async_job_claim", "job_status", "owner", "run_after"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(64))
    job_cmd: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    instance_type: Mapped[str | None] = mapped_column(String(64))
    instance_uuid: Mapped[str | None] = mapped_column(String(40))
    job_status: Mapped[int] = mapped_column(Integer, default=JobStatus.PENDING)
    # Percent done while running (0–100); CloudStack's jobprocstatus.
    job_process_status: Mapped[int] = mapped_column(Integer, default=0)
    job_result_code: Mapped[int] = mapped_column(Integer, default=0)
    job_result: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))
    # The management server (mshost.msid) running the job; its lease decides takeover.
    executing_msid: Mapped[str | None] = mapped_column(String(40), index=True)
    # How often a live server took the job over from one that died while running it.
    takeovers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime())
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime())
    completed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ManagementServerState(StrEnum):
    """mshost.state values (CloudStack spelling)."""

    UP = "Up"
    DOWN = "Down"


class ManagementServer(Base):
    """One run of a management server process (CloudStack's mshost).

    Every process start gets a new ``msid``; the process renews ``last_seen`` while it
    lives, and a server whose lease ran out is Down: its jobs are taken over.
    """

    __tablename__ = "mshost"
    id: Mapped[int] = mapped_column(primary_key=True)
    msid: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[ManagementServerState] = mapped_column(StrEnumType(ManagementServerState, 16))
    started: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    stopped: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PeriodicTaskRun(Base):
    """When a periodic task last ran cluster-wide: the row several servers race to advance."""

    __tablename__ = "periodic_task_run"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run: Mapped[datetime] = mapped_column(UtcDateTime())
    msid: Mapped[str] = mapped_column(String(40))
