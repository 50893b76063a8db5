"""listApis: every command with its parameters, types, required flags and isasync."""

from dataclasses import dataclass
from typing import Any

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
        "type": "admin" if command.admin_only else "user",
    }


@commands.command(
    "listApis",
    ListApisParams,
    description="lists all available apis on the server",
    response_key="api",
    since="4.1.0",
)
def list_apis(ctx: ApiContext, params: ListApisParams) -> ListResult:
    """List the commands the caller may use."""
    available = [
        c
        for c in ctx.registry.all()
        if (ctx.caller.is_admin or not c.admin_only)
        and (params.name is None or c.name == params.name)
    ]
    return ListResult("api", [api_response(c) for c in available], len(available))
