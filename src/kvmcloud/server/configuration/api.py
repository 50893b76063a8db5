"""listConfigurations, updateConfiguration."""

from dataclasses import dataclass

from kvmcloud.server.api.params import ListParams, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult
from kvmcloud.server.configuration import service
from kvmcloud.server.configuration.views import configuration_response

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListConfigurationsParams(ListParams):
    """Parameters of listConfigurations."""

    name: str | None = param("lists configuration by name", default=None)
    category: str | None = param("lists configurations by category", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateConfigurationParams:
    """Parameters of updateConfiguration."""

    name: str = param("the name of the configuration")
    value: str | None = param("the value of the configuration", length=4096, default=None)


@commands.command(
    "listConfigurations",
    ListConfigurationsParams,
    description="Lists all configurations.",
    response_key="configuration",
    admin_only=True,
)
def list_configurations(ctx: ApiContext, params: ListConfigurationsParams) -> ListResult:
    """List global settings."""
    rows, total = service.list_configurations(
        ctx.db, params, name=params.name, category=params.category, keyword=params.keyword
    )
    return ListResult("configuration", [configuration_response(r) for r in rows], total)


@commands.command(
    "updateConfiguration",
    UpdateConfigurationParams,
    description="Updates a configuration.",
    response_key="configuration",
    admin_only=True,
)
def update_configuration(ctx: ApiContext, params: UpdateConfigurationParams) -> ObjectResult:
    """Change a global setting (a missing value restores the default)."""
    row = service.update_configuration(ctx.db, params.name, params.value, ctx.clock)
    return ObjectResult("configuration", configuration_response(row))
