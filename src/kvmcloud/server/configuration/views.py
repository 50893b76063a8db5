"""CloudStack's configuration object for a global setting (pure)."""

from typing import Any

from kvmcloud.server.api.responses import without_none
from kvmcloud.server.configuration.definitions import BY_NAME
from kvmcloud.server.configuration.models import ConfigurationValue


def configuration_response(
    row: ConfigurationValue, *, zone_uuid: str | None = None, zone_value: str | None = None
) -> dict[str, Any]:
    """Map a setting to CloudStack's configuration object.

    Asked for a zone (``zone_uuid``), the value is ``zone_value`` (what the zone uses) and
    the object says so with ``scope`` zone and ``id`` the zone's id, as CloudStack's does.
    """
    value = row.value if zone_uuid is None else zone_value
    key = BY_NAME.get(row.name)
    return without_none(
        {
            "name": row.name,
            "value": value,
            "category": row.category,
            "description": row.description,
            "scope": "zone" if zone_uuid is not None else row.scope.lower(),
            "id": zone_uuid,
            "isdynamic": row.is_dynamic,
            "component": row.component,
            "defaultvalue": row.default_value,
            "displaytext": row.name,
            "type": key.type_name if key else None,
            "group": "Miscellaneous",
            "subgroup": "Others",
        }
    )
