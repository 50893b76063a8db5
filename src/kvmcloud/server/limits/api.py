"""listResourceLimits: every CloudStack resource type, unlimited (kvmcloud enforces none)."""

from dataclasses import dataclass

from kvmcloud.server.api.params import Entity, Long, OwnerListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult
from kvmcloud.server.limits import service
from kvmcloud.server.limits.views import RESOURCE_LIMIT, chosen_types, resource_limit_response

commands = CommandSet()
RESOURCE_LIMIT_KEY = "resourcelimit"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListResourceLimitsParams(OwnerListParams):
    """Parameters of listResourceLimits."""

    id: Long | None = param("Lists resource limits by ID.", default=None)
    resource_type: int | None = param(
        "Type of resource. Values are 0, 1, 2, 3, 4, 6, 7, 8, 9, 10 and 11. 0 - Instance. "
        "1 - IP. 2 - Volume. 3 - Snapshot. 4 - Template. 5 - Project. 6 - Network. 7 - VPC. "
        "8 - CPU. 9 - Memory. 10 - PrimaryStorage. 11 - SecondaryStorage.",
        default=None,
    )
    resource_type_name: str | None = param(
        "Type of resource (wins over resourceType if both are provided). Values are: "
        "user_vm, public_ip, volume, snapshot, template, project, network, vpc, cpu, memory, "
        "primary_storage, secondary_storage",
        default=None,
    )
    project_id: Uuid | None = param("list objects by project", entity=Entity.PROJECT, default=None)


@commands.command(
    "listResourceLimits",
    ListResourceLimitsParams,
    description="Lists resource limits.",
    response_key=RESOURCE_LIMIT_KEY,
    response=RESOURCE_LIMIT,
)
def list_resource_limits(ctx: ApiContext, params: ListResourceLimitsParams) -> ListResult:
    """List the limits of the caller's account (or an account's, a domain's): all -1."""
    types = chosen_types(params.resource_type, params.resource_type_name)
    owner, window = service.limit_owner(
        ctx.db, params, ctx.caller, params.owner_filter(), command=ctx.command
    )
    # Limits changed from their default are rows in CloudStack, and only those have an id:
    # kvmcloud has no such row, so a search by id finds none.
    if params.id is not None:
        return ListResult(RESOURCE_LIMIT_KEY, [], 0)
    items = [resource_limit_response(owner, number, name) for number, name in types]
    end = None if window.limit is None else window.offset + window.limit
    return ListResult(RESOURCE_LIMIT_KEY, items[window.offset : end], len(items))
