"""CloudStack's resource types and the resourcelimit objects for one owner (pure)."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.limits.service import LimitOwner

# CloudStack's Resource.ResourceType: ordinal and name, in CloudStack's order.
RESOURCE_TYPES: tuple[tuple[int, str], ...] = (
    (0, "user_vm"),
    (1, "public_ip"),
    (2, "volume"),
    (3, "snapshot"),
    (4, "template"),
    (5, "project"),
    (6, "network"),
    (7, "vpc"),
    (8, "cpu"),
    (9, "memory"),
    (10, "primary_storage"),
    (11, "secondary_storage"),
)
# CloudStack's Resource.RESOURCE_UNLIMITED: the resource has no limit.
UNLIMITED = -1

RESOURCE_LIMIT = ObjectSchema(
    "ResourceLimitResponse",
    (
        out("account", FieldType.STRING, "the account of the resource limit"),
        out("domainid", FieldType.STRING, "the domain ID of the resource limit"),
        out("domain", FieldType.STRING, "the domain name of the resource limit"),
        out(
            "domainpath",
            FieldType.STRING,
            "path of the domain to which the resource limit belongs",
        ),
        out(
            "resourcetype",
            FieldType.STRING,
            "resource type. Values include 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11. See the "
            "resourceType parameter for more information on these values.",
        ),
        out(
            "resourcetypename",
            FieldType.STRING,
            "resource type name. Values include user_vm, public_ip, volume, snapshot, "
            "template, project, network, vpc, cpu, memory, primary_storage, secondary_storage.",
        ),
        out(
            "max",
            FieldType.LONG,
            "the maximum number of the resource. A -1 means the resource currently has no limit.",
        ),
    ),
)


def chosen_types(type_number: int | None, type_name: str | None) -> list[tuple[int, str]]:
    """The resource types asked for, as CloudStack reads them (the name wins over the number).

    Raises:
        InvalidParameterError: a name or number that is no CloudStack resource type.
    """
    if type_name is not None:
        found = [entry for entry in RESOURCE_TYPES if entry[1] == type_name]
        if not found:
            raise InvalidParameterError(
                "resourcetypename", "Please specify a valid resource type name."
            )
        return found
    if type_number is not None:
        found = [entry for entry in RESOURCE_TYPES if entry[0] == type_number]
        if not found:
            raise InvalidParameterError("resourcetype", "Please specify a valid resource type.")
        return found
    return list(RESOURCE_TYPES)


def resource_limit_response(owner: LimitOwner, number: int, name: str) -> dict[str, Any]:
    """One resourcelimit object: no limit (-1) on ``name`` for ``owner``."""
    item: dict[str, Any] = {}
    if owner.account_name is not None:
        item["account"] = owner.account_name
    item.update(
        {
            "domainid": owner.domain_uuid,
            "domain": owner.domain_name,
            "domainpath": owner.domain_path,
            "resourcetype": str(number),
            "resourcetypename": name,
            "max": UNLIMITED,
        }
    )
    return RESOURCE_LIMIT.render(item)
