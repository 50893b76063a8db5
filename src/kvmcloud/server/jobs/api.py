"""queryAsyncJobResult, listAsyncJobs, listManagementServers."""

from dataclasses import dataclass

from kvmcloud.server.api.params import Entity, ListParams, OwnerListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import FlatResult, ListResult
from kvmcloud.server.jobs import service
from kvmcloud.server.jobs.views import (
    ASYNC_JOB,
    MANAGEMENT_SERVER,
    job_response,
    management_server_response,
)

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryAsyncJobResultParams:
    """Parameters of queryAsyncJobResult."""

    job_id: Uuid = param("the ID of the asynchronous job")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListAsyncJobsParams(OwnerListParams):
    """Parameters of listAsyncJobs."""


@commands.command(
    "queryAsyncJobResult",
    QueryAsyncJobResultParams,
    description="Retrieves the current status of asynchronous job.",
    response_key="asyncjobs",
    since="2.2.0",
    response=ASYNC_JOB,
)
def query_async_job_result(ctx: ApiContext, params: QueryAsyncJobResultParams) -> FlatResult:
    """Return one job's status, progress and (when finished) result."""
    record = service.get_job(ctx.db, params.job_id, ctx.caller, command=ctx.command)
    return FlatResult(job_response(record))


@commands.command(
    "listAsyncJobs",
    ListAsyncJobsParams,
    description="Lists all pending asynchronous jobs for the account.",
    response_key="asyncjobs",
    since="2.2.0",
    response=ASYNC_JOB,
)
def list_async_jobs(ctx: ApiContext, params: ListAsyncJobsParams) -> ListResult:
    """List the caller's jobs (those of the accounts they administer with listall), newest first."""
    records, total = service.list_jobs(
        ctx.db, params, ctx.caller, params.owner_filter(), command=ctx.command
    )
    return ListResult("asyncjobs", [job_response(record) for record in records], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListManagementServersParams(ListParams):
    """Parameters of listManagementServers."""

    id: Uuid | None = param(
        "the id of the management server", entity=Entity.MANAGEMENT_SERVER, default=None
    )
    name: str | None = param("the name (host:port) of the management server", default=None)


@commands.command(
    "listManagementServers",
    ListManagementServersParams,
    description="Lists management servers: every run of a server process, its state and lease.",
    response_key="managementserver",
    since="4.0.0",
    response=MANAGEMENT_SERVER,
)
def list_management_servers(ctx: ApiContext, params: ListManagementServersParams) -> ListResult:
    """List management server runs, the live ones first, newest first."""
    rows, total = service.list_management_servers(
        ctx.db, params, msid=params.id, name=params.name, keyword=params.keyword
    )
    return ListResult("managementserver", [management_server_response(r) for r in rows], total)
