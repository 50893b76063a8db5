"""CloudStack's configuration object for a global setting (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.configuration.definitions import BY_NAME
from kvmcloud.server.configuration.models import ConfigurationValue

CONFIGURATION = ObjectSchema(
    "ConfigurationResponse",
    (
        out("name", FieldType.STRING, "The name of the configuration"),
        out("value", FieldType.STRING, "The value of the configuration"),
        out("category", FieldType.STRING, "The category of the configuration"),
        out("description", FieldType.STRING, "The description of the configuration"),
        out(
            "scope",
            FieldType.STRING,
            "Scope (zone/cluster/pool/account) of the parameter that needs to be updated",
        ),
        # CloudStack answers the zone's internal number here; kvmcloud has only uuids.
        out(
            "id",
            FieldType.STRING,
            "kvmcloud: the ID of the zone whose value this is (scope zone); CloudStack answers "
            "the zone's internal number",
        ),
        out("isdynamic", FieldType.BOOLEAN, "True if the configuration is dynamic"),
        out("component", FieldType.STRING, "The component of the configuration"),
        out("defaultvalue", FieldType.STRING, "The default value of the configuration"),
        out("displaytext", FieldType.STRING, "The display text of the configuration"),
        out("type", FieldType.STRING, "The type of the configuration value"),
        out("group", FieldType.STRING, "The group of the configuration"),
        out("subgroup", FieldType.STRING, "The subgroup of the configuration"),
    ),
)


def configuration_response(
    row: ConfigurationValue, *, zone_uuid: str | None = None, zone_value: str | None = None
) -> dict[str, Any]:
    """Map a setting to CloudStack's configuration object.

    Asked for a zone (``zone_uuid``), the value is ``zone_value`` (what the zone uses) and
    the object says so with ``scope`` zone and ``id`` the zone's id, as CloudStack's does.
    """
    value = row.value if zone_uuid is None else zone_value
    key = BY_NAME.get(row.name)
    return CONFIGURATION.render(
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
