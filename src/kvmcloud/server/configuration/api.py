"""listConfigurations, updateConfiguration."""

from dataclasses import dataclass

from kvmcloud.server.api.params import Entity, ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult
from kvmcloud.server.configuration import service
from kvmcloud.server.configuration.views import CONFIGURATION, configuration_response

commands = CommandSet()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListConfigurationsParams(ListParams):
    """Parameters of listConfigurations."""

    name: str | None = param("lists configuration by name", default=None)
    category: str | None = param("lists configurations by category", default=None)
    zone_id: Uuid | None = param(
        "the ID of the Zone to list the parameter values for (zone-scoped settings only)",
        entity=Entity.ZONE,
        default=None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateConfigurationParams:
    """Parameters of updateConfiguration."""

    name: str = param("the name of the configuration")
    value: str | None = param("the value of the configuration", length=4096, default=None)
    zone_id: Uuid | None = param(
        "the ID of the Zone to update the parameter value for corresponding zone",
        entity=Entity.ZONE,
        default=None,
    )


@commands.command(
    "listConfigurations",
    ListConfigurationsParams,
    description="Lists all configurations.",
    response_key="configuration",
    response=CONFIGURATION,
)
def list_configurations(ctx: ApiContext, params: ListConfigurationsParams) -> ListResult:
    """List global settings, or a zone's values of the zone-scoped ones."""
    settings, total = service.list_configurations(
        ctx.db,
        params,
        name=params.name,
        category=params.category,
        keyword=params.keyword,
        zone_uuid=params.zone_id,
        find_zone=ctx.hooks.find_zone,
    )
    responses = [
        configuration_response(s.row, zone_uuid=s.zone_uuid, zone_value=s.value) for s in settings
    ]
    return ListResult("configuration", responses, total)


@commands.command(
    "updateConfiguration",
    UpdateConfigurationParams,
    description="Updates a configuration.",
    response_key="configuration",
    response=CONFIGURATION,
)
def update_configuration(ctx: ApiContext, params: UpdateConfigurationParams) -> ObjectResult:
    """Change a global setting or a zone's value (a missing value restores the default)."""
    setting = service.update_configuration(
        ctx.db,
        params.name,
        params.value,
        ctx.clock,
        zone_uuid=params.zone_id,
        find_zone=ctx.hooks.find_zone,
    )
    response = configuration_response(
        setting.row, zone_uuid=setting.zone_uuid, zone_value=setting.value
    )
    return ObjectResult("configuration", response)
