"""listApis: every command with its parameters, types, required flags and isasync."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kvmcloud.server.accounts.models import RoleType
from kvmcloud.server.accounts.permissions import allowed_by_default, may_call
from kvmcloud.server.api.fields import FieldType, ObjectSchema, out, related
from kvmcloud.server.api.params import Entity, param
from kvmcloud.server.api.registry import ApiCommand, ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult

commands = CommandSet()

API_PARAMETER = ObjectSchema(
    "ApiParameterResponse",
    (
        out("name", FieldType.STRING, "the name of the api parameter"),
        out("description", FieldType.STRING, "description of the api parameter"),
        out("type", FieldType.STRING, "parameter type"),
        out("length", FieldType.INTEGER, "length of the parameter"),
        out(
            "required", FieldType.BOOLEAN, "true if this parameter is required for the api request"
        ),
        out("since", FieldType.STRING, "version of CloudStack the api was introduced in"),
        out("related", FieldType.STRING, "comma separated related apis to get the parameter"),
    ),
)
# The description of a response field nests itself for lists and objects; below the
# second level its fields are only known to be a list.
API_RESPONSE_FIELDS = (
    out("name", FieldType.STRING, "the name of the api response field"),
    out("description", FieldType.STRING, "description of the api response field"),
    out("type", FieldType.STRING, "response field type"),
)
API_RESPONSE = ObjectSchema(
    "ApiResponseResponse",
    (
        *API_RESPONSE_FIELDS,
        out(
            "response",
            FieldType.SET,
            "api response fields",
            ObjectSchema(
                "ApiResponseResponse",
                (*API_RESPONSE_FIELDS, out("response", FieldType.SET, "api response fields")),
            ),
        ),
    ),
)
API = ObjectSchema(
    "ApiDiscoveryResponse",
    (
        out("name", FieldType.STRING, "the name of the api command"),
        out("description", FieldType.STRING, "description of the api"),
        out("since", FieldType.STRING, "version of CloudStack the api was introduced in"),
        out("isasync", FieldType.BOOLEAN, "true if api is asynchronous"),
        out("related", FieldType.STRING, "comma separated related apis"),
        out("params", FieldType.SET, "the list params the api accepts", API_PARAMETER),
        out("response", FieldType.SET, "api response fields", API_RESPONSE),
        # kvmcloud addition (see api_response).
        out("type", FieldType.STRING, "user if the default User role may call it, else admin"),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListApisParams:
    """Parameters of listApis."""

    name: str | None = param("API name", default=None)


def api_response(command: ApiCommand[Any], every: Sequence[ApiCommand[Any]]) -> dict[str, Any]:
    """Describe one command as CloudStack's api discovery object.

    ``every`` is the whole registry: ``related`` names the other commands answering the
    same object, and a uuid parameter relates to the commands answering what it names.
    """
    answering = [(c.name, c.response) for c in every]
    params = [
        API_PARAMETER.render(
            {
                "name": spec.name,
                "description": spec.description,
                "type": spec.type.value,
                "length": spec.length,
                "required": spec.required,
                "since": command.since,
                "related": _param_related(spec.entity, every),
            }
        )
        for spec in command.param_specs()
    ]
    others = [(name, schema) for name, schema in answering if name != command.name]
    return API.render(
        {
            "name": command.name,
            "description": command.description,
            "since": command.since,
            "isasync": command.is_async,
            # CloudStack leaves an empty one out; CloudMonkey's sync reads it, so it is "".
            "related": related(command.response, others),
            "params": params,
            "response": command.response.describe() if command.response else [],
            # CloudStack leaves it out; kvmcloud says whether the default User role has it.
            "type": "user" if allowed_by_default(RoleType.USER, command.name) else "admin",
        }
    )


def _param_related(entity: Entity | None, every: Sequence[ApiCommand[Any]]) -> str:
    """Name the commands answering the object a uuid parameter names ("" if none do)."""
    if entity is None:
        return ""
    return ",".join(c.name for c in every if c.response is not None and c.response.entity is entity)


@commands.command(
    "listApis",
    ListApisParams,
    description="lists all available apis on the server",
    response_key="api",
    since="4.1.0",
    response=API,
)
def list_apis(ctx: ApiContext, params: ListApisParams) -> ListResult:
    """List the commands the caller's role may call."""
    every = ctx.registry.all()
    available = [
        c
        for c in every
        if may_call(ctx.caller.grant, c.name) and (params.name is None or c.name == params.name)
    ]
    return ListResult("api", [api_response(c, every) for c in available], len(available))
