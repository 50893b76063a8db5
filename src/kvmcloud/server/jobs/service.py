"""Look up jobs for the API, limited to what the caller may see."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.models import Account, User
from kvmcloud.server.jobs.models import AsyncJob


def get_job(
    session: Session, job_uuid: str, *, account_id: int, is_admin: bool
) -> tuple[AsyncJob, str | None, str | None] | None:
    """Return the job with its account and user uuids, if the caller may see it."""
    query = (
        select(AsyncJob, Account.uuid, User.uuid)
        .outerjoin(Account, AsyncJob.account_id == Account.id)
        .outerjoin(User, AsyncJob.user_id == User.id)
        .where(AsyncJob.uuid == job_uuid)
    )
    if not is_admin:
        query = query.where(AsyncJob.account_id == account_id)
    return session.execute(query).first()


def list_jobs(
    session: Session,
    *,
    account_id: int,
    is_admin: bool,
    list_all: bool,
    offset: int,
    limit: int | None,
) -> tuple[list[tuple[AsyncJob, str | None, str | None]], int]:
    """Return a page of jobs, newest first, and the total count."""
    query = (
        select(AsyncJob, Account.uuid, User.uuid)
        .outerjoin(Account, AsyncJob.account_id == Account.id)
        .outerjoin(User, AsyncJob.user_id == User.id)
    )
    if not (is_admin and list_all):
        query = query.where(AsyncJob.account_id == account_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(AsyncJob.id.desc()).offset(offset).limit(limit))
    return list(rows), total
