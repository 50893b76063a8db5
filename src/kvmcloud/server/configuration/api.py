"""listConfigurations, updateConfiguration."""

from dataclasses import dataclass
from typing import Any

from kvmcloud.server.api.params import ListParams, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult, without_none
from kvmcloud.server.configuration import service
from kvmcloud.server.configuration.definitions import BY_NAME, DEFAULT_PAGE_SIZE
from kvmcloud.server.configuration.models import ConfigurationValue
from kvmcloud.server.paging import page_window

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


def configuration_response(row: ConfigurationValue) -> dict[str, Any]:
    """Map a setting to CloudStack's configuration object."""
    key = BY_NAME.get(row.name)
    return without_none(
        {
            "name": row.name,
            "value": row.value,
            "category": row.category,
            "description": row.description,
            "scope": row.scope.lower(),
            "isdynamic": row.is_dynamic,
            "component": row.component,
            "defaultvalue": row.default_value,
            "displaytext": row.name,
            "type": key.type_name if key else None,
            "group": "Miscellaneous",
            "subgroup": "Others",
        }
    )


@commands.command(
    "listConfigurations",
    ListConfigurationsParams,
    description="Lists all configurations.",
    response_key="configuration",
    admin_only=True,
)
def list_configurations(ctx: ApiContext, params: ListConfigurationsParams) -> ListResult:
    """List global settings."""
    with ctx.db.transaction() as session:
        rows = service.list_values(
            session, name=params.name, category=params.category, keyword=params.keyword
        )
        window = page_window(
            params.page, params.page_size, service.get_value(session, DEFAULT_PAGE_SIZE)
        )
        page = rows[window.offset : None if window.limit is None else window.offset + window.limit]
        return ListResult("configuration", [configuration_response(r) for r in page], len(rows))


@commands.command(
    "updateConfiguration",
    UpdateConfigurationParams,
    description="Updates a configuration.",
    response_key="configuration",
    admin_only=True,
)
def update_configuration(ctx: ApiContext, params: UpdateConfigurationParams) -> ObjectResult:
    """Change a global setting (a missing value restores the default)."""
    with ctx.db.transaction() as session:
        key = BY_NAME.get(params.name)
        value = params.value if params.value is not None else (key.default if key else "")
        row = service.update_value(session, params.name, value, ctx.clock())
        return ObjectResult("configuration", configuration_response(row))
