"""queryAsyncJobResult, listAsyncJobs, listManagementServers."""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import FlatResult, ListResult, format_date, without_none
from kvmcloud.server.errors import NotFoundError
from kvmcloud.server.jobs import service
from kvmcloud.server.jobs.models import AsyncJob, JobStatus, ManagementServer
from kvmcloud.server.queries import list_window, paged

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryAsyncJobResultParams:
    """Parameters of queryAsyncJobResult."""

    job_id: Uuid = param("the ID of the asynchronous job")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAsyncJobsParams(ListParams):
    """Parameters of listAsyncJobs."""


def job_response(job: AsyncJob, account_uuid: str | None, user_uuid: str | None) -> dict[str, Any]:
    """Map a job row to CloudStack's async job object."""
    item: dict[str, Any] = {
        "jobid": job.uuid,
        "accountid": account_uuid,
        "userid": user_uuid,
        "cmd": job.job_cmd,
        "jobstatus": job.job_status,
        "jobprocstatus": job.job_process_status,
        "jobresultcode": job.job_result_code,
        "jobresulttype": "object",
        "jobinstancetype": job.instance_type,
        "jobinstanceid": job.instance_uuid,
        "created": format_date(job.created),
        "completed": format_date(job.completed),
    }
    if job.job_status != JobStatus.PENDING and job.job_result:
        item["jobresult"] = json.loads(job.job_result)
    return without_none(item)


@commands.command(
    "queryAsyncJobResult",
    QueryAsyncJobResultParams,
    description="Retrieves the current status of asynchronous job.",
    response_key="asyncjobs",
    since="2.2.0",
)
def query_async_job_result(ctx: ApiContext, params: QueryAsyncJobResultParams) -> FlatResult:
    """Return one job's status, progress and (when finished) result."""
    with ctx.db.transaction() as session:
        found = service.get_job(
            session, params.job_id, account_id=ctx.caller.account_id, is_admin=ctx.caller.is_admin
        )
    if found is None:
        raise NotFoundError(ctx.command, "jobid", params.job_id)
    return FlatResult(job_response(*found))


@commands.command(
    "listAsyncJobs",
    ListAsyncJobsParams,
    description="Lists all pending asynchronous jobs for the account.",
    response_key="asyncjobs",
    since="2.2.0",
)
def list_async_jobs(ctx: ApiContext, params: ListAsyncJobsParams) -> ListResult:
    """List the caller's jobs (every account's with listall=true for admins), newest first."""
    with ctx.db.transaction() as session:
        window = list_window(session, params)
        rows, total = service.list_jobs(
            session,
            account_id=ctx.caller.account_id,
            is_admin=ctx.caller.is_admin,
            list_all=bool(params.list_all),
            offset=window.offset,
            limit=window.limit,
        )
    return ListResult("asyncjobs", [job_response(*row) for row in rows], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListManagementServersParams(ListParams):
    """Parameters of listManagementServers."""

    id: Uuid | None = param("the id of the management server", default=None)
    name: str | None = param("the name (host:port) of the management server", default=None)


def management_server_response(server: ManagementServer) -> dict[str, Any]:
    """Map an mshost row to CloudStack's management server object."""
    return without_none(
        {
            "id": server.msid,
            "name": server.name,
            "state": server.state.value,
            "version": server.version,
            "lastserverstart": format_date(server.started),
            "lastserverstop": format_date(server.stopped),
            # kvmcloud addition: when the server last renewed its lease.
            "lastseen": format_date(server.last_seen),
        }
    )


@commands.command(
    "listManagementServers",
    ListManagementServersParams,
    description="Lists management servers: every run of a server process, its state and lease.",
    response_key="managementserver",
    admin_only=True,
    since="4.0.0",
)
def list_management_servers(ctx: ApiContext, params: ListManagementServersParams) -> ListResult:
    """List management server runs, the live ones first, newest first."""
    query = select(ManagementServer)
    if params.id is not None:
        query = query.where(ManagementServer.msid == params.id)
    if params.name is not None:
        query = query.where(ManagementServer.name == params.name)
    if params.keyword:
        query = query.where(ManagementServer.name.contains(params.keyword, autoescape=True))
    query = query.order_by(ManagementServer.state.desc(), ManagementServer.id.desc())
    with ctx.db.transaction() as session:
        rows, total = paged(session, query, list_window(session, params))
        items = [management_server_response(row) for row in rows]
    return ListResult("managementserver", items, total)
