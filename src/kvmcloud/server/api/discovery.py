"""listApis: every command with its parameters, types, required flags and isasync."""

from dataclasses import dataclass
from typing import Any

from kvmcloud.server.accounts.models import RoleType
from kvmcloud.server.accounts.permissions import allowed_by_default, may_call
from kvmcloud.server.api.params import param
from kvmcloud.server.api.registry import ApiCommand, ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListApisParams:
    """Parameters of listApis."""

    name: str | None = param("API name", default=None)


def api_response(command: ApiCommand[Any]) -> dict[str, Any]:
    """Describe one command as CloudStack's api discovery object."""
    params = [
        {
            "name": spec.name,
            "description": spec.description,
            "type": spec.type.value,
            "length": spec.length,
            "required": spec.required,
            "since": command.since,
            "related": "",
        }
        for spec in command.param_specs()
    ]
    return {
        "name": command.name,
        "description": command.description,
        "since": command.since,
        "isasync": command.is_async,
        "related": "",
        "params": params,
        "response": [],
        # CloudStack leaves it out; kvmcloud says whether the default User role has it.
        "type": "user" if allowed_by_default(RoleType.USER, command.name) else "admin",
    }


@commands.command(
    "listApis",
    ListApisParams,
    description="lists all available apis on the server",
    response_key="api",
    since="4.1.0",
)
def list_apis(ctx: ApiContext, params: ListApisParams) -> ListResult:
    """List the commands the caller's role may call."""
    available = [
        c
        for c in ctx.registry.all()
        if may_call(ctx.caller.grant, c.name) and (params.name is None or c.name == params.name)
    ]
    return ListResult("api", [api_response(c) for c in available], len(available))
