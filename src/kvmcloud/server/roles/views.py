"""CloudStack's role and rolepermission objects (pure)."""

from typing import Any

from kvmcloud.server.accounts.models import Role
from kvmcloud.server.api.responses import without_none
from kvmcloud.server.roles.service import RuleRecord


def role_response(role: Role) -> dict[str, Any]:
    """Map a role to CloudStack's role object (RoleResponse)."""
    return without_none(
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
    return without_none(
        {
            "id": record.uuid,
            "roleid": record.role.uuid,
            "rolename": record.role.name,
            "rule": record.rule,
            "permission": record.permission.value,
            "description": record.description,
        }
    )
