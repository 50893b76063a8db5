"""Look up jobs and management servers for the API, limited to what the caller may see."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.access import check_job_reader
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, Domain, User
from kvmcloud.server.accounts.owners import owned_by, scope_of
from kvmcloud.server.accounts.visibility import OwnerFilter
from kvmcloud.server.db import Database
from kvmcloud.server.errors import NotFoundError
from kvmcloud.server.jobs.models import AsyncJob, ManagementServer
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import list_window, paged


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job with the uuids of the account and user it runs for."""

    job: AsyncJob
    account_uuid: str | None
    user_uuid: str | None


def get_job(db: Database, job_uuid: str, caller: Caller, *, command: str) -> JobRecord:
    """Return the job ``job_uuid`` with its account and user uuids.

    Raises:
        NotFoundError: no such job (431).
        PermissionDeniedError: a job of another account and the caller is no admin (531).
    """
    query = (
        select(AsyncJob, Account.uuid, User.uuid, Domain.path)
        .outerjoin(Account, AsyncJob.account_id == Account.id)
        .outerjoin(Domain, Account.domain_id == Domain.id)
        .outerjoin(User, AsyncJob.user_id == User.id)
        .where(AsyncJob.uuid == job_uuid)
    )
    with db.transaction() as session:
        found = session.execute(query).first()
    if found is None:
        raise NotFoundError(command, "jobid", job_uuid)
    job, account_uuid, user_uuid, domain_path = found
    check_job_reader(caller, job.account_id, job_uuid, domain_path)
    return JobRecord(job, account_uuid, user_uuid)


def list_jobs(
    db: Database, page: PageRequest, caller: Caller, owners: OwnerFilter, *, command: str
) -> tuple[list[JobRecord], int]:
    """Return a page of jobs, newest first, and the total count.

    A caller sees their account's jobs; admins with listall=true those of every account
    they administer, or an account's or a domain's with ``account`` and ``domainid``.
    """
    query = select(AsyncJob)
    with db.transaction() as session:
        scope = scope_of(session, caller, owners, command=command)
        query = query.where(owned_by(scope, AsyncJob.account_id))
        window = list_window(session, page)
        jobs, total = paged(session, query.order_by(AsyncJob.id.desc()), window)
        return _records(session, jobs), total


def _records(session: Session, jobs: Sequence[AsyncJob]) -> list[JobRecord]:
    account_ids = {job.account_id for job in jobs if job.account_id is not None}
    user_ids = {job.user_id for job in jobs if job.user_id is not None}
    accounts: dict[int, str] = {}
    users: dict[int, str] = {}
    if account_ids:
        rows = session.execute(select(Account.id, Account.uuid).where(Account.id.in_(account_ids)))
        accounts = {account_id: uuid for account_id, uuid in rows}
    if user_ids:
        rows = session.execute(select(User.id, User.uuid).where(User.id.in_(user_ids)))
        users = {user_id: uuid for user_id, uuid in rows}
    return [
        JobRecord(
            job,
            accounts.get(job.account_id) if job.account_id is not None else None,
            users.get(job.user_id) if job.user_id is not None else None,
        )
        for job in jobs
    ]


def list_management_servers(
    db: Database,
    page: PageRequest,
    *,
    msid: str | None,
    name: str | None,
    keyword: str | None,
) -> tuple[list[ManagementServer], int]:
    """Return a page of management server runs, the live ones first, newest first."""
    query = select(ManagementServer)
    if msid is not None:
        query = query.where(ManagementServer.msid == msid)
    if name is not None:
        query = query.where(ManagementServer.name == name)
    if keyword:
        query = query.where(ManagementServer.name.contains(keyword, autoescape=True))
    query = query.order_by(ManagementServer.state.desc(), ManagementServer.id.desc())
    with db.transaction() as session:
        return paged(session, query, list_window(session, page))
