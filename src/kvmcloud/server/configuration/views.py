"""CloudStack's configuration object for a global setting (pure)."""

from typing import Any

from kvmcloud.server.api.responses import without_none
from kvmcloud.server.configuration.definitions import BY_NAME
from kvmcloud.server.configuration.models import ConfigurationValue


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
