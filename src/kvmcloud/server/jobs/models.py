"""AsyncJob table (CloudStack's async_job): kind, payload, status, result, owner, timestamps."""

from datetime import datetime
from enum import IntEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, UtcDateTime, new_uuid


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
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    instance_type: Mapped[str | None] = mapped_column(String(64))
    instance_uuid: Mapped[str | None] = mapped_column(String(40))
    job_status: Mapped[int] = mapped_column(Integer, default=JobStatus.PENDING)
    # Percent done while running (0–100); CloudStack's jobprocstatus.
    job_process_status: Mapped[int] = mapped_column(Integer, default=0)
    job_result_code: Mapped[int] = mapped_column(Integer, default=0)
    job_result: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime())
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime())
    completed: Mapped[datetime | None] = mapped_column(UtcDateTime())
