"""CloudStack's role and rolepermission objects (pure)."""

from typing import Any

from kvmcloud.server.accounts.models import Role
from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.roles.service import RuleRecord

ROLE = ObjectSchema(
    "RoleResponse",
    (
        out("id", FieldType.STRING, "The ID of the role"),
        out("name", FieldType.STRING, "The name of the role"),
        out("type", FieldType.STRING, "the type of the role"),
        out("description", FieldType.STRING, "The description of the role"),
        out("isdefault", FieldType.BOOLEAN, "true if role is default, false otherwise"),
        out(
            "ispublic",
            FieldType.BOOLEAN,
            "Indicates whether the role will be visible to all Users (public) or only to root "
            "admins (private). If this parameter is not specified during the creation of the "
            "role its value will be defaulted to true (public).",
        ),
    ),
    entity=Entity.ROLE,
)

ROLE_PERMISSION = ObjectSchema(
    "RolePermissionResponse",
    (
        out("id", FieldType.STRING, "The ID of the role permission"),
        out("roleid", FieldType.STRING, "The ID of the role to which the role permission belongs"),
        out(
            "rolename",
            FieldType.STRING,
            "The name of the role to which the role permission belongs",
        ),
        out("rule", FieldType.STRING, "the api name or wildcard rule"),
        out(
            "permission",
            FieldType.STRING,
            "the permission type of the api name or wildcard rule, allow/deny",
        ),
        out("description", FieldType.STRING, "the description of the role permission"),
    ),
    entity=Entity.ROLE_PERMISSION,
)


def role_response(role: Role) -> dict[str, Any]:
    """Map a role to CloudStack's role object (RoleResponse)."""
    return ROLE.render(
        {
            "id": role.uuid,
            "name": role.name,
            "type": role.role_type.value,
            "description": role.description,
            "isdefault": role.is_default,
            # kvmcloud has no private roles: every role is listed to those who may list roles.
            "ispublic": True,
        }
    )


def rule_response(record: RuleRecord) -> dict[str, Any]:
    """Map a rule to CloudStack's rolepermission object (RolePermissionResponse)."""
    return ROLE_PERMISSION.render(
        {
            "id": record.uuid,
            "roleid": record.role.uuid,
            "rolename": record.role.name,
            "rule": record.rule,
            "permission": record.permission.value,
            "description": record.description,
        }
    )
