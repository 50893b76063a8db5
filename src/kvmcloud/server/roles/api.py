"""listRoles, createRole, updateRole, deleteRole and the role permission commands."""

from dataclasses import dataclass

from kvmcloud.server.accounts.models import Permission, RoleType
from kvmcloud.server.api.fields import SUCCESS
from kvmcloud.server.api.params import Entity, ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import FlatResult, ListResult, ObjectResult
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.roles import service
from kvmcloud.server.roles.views import ROLE, ROLE_PERMISSION, role_response, rule_response

commands = CommandSet()

_TYPES = "valid options are: Admin, ResourceAdmin, DomainAdmin, User"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRolesParams(ListParams):
    """Parameters of listRoles."""

    id: Uuid | None = param("List role by role ID.", entity=Entity.ROLE, default=None)
    name: str | None = param("List role by role name.", default=None)
    type: RoleType | None = param(f"List role by role type, {_TYPES}.", default=None)


@commands.command(
    "listRoles",
    ListRolesParams,
    description="Lists dynamic roles in CloudStack",
    response_key="role",
    response=ROLE,
    since="4.9.0",
)
def list_roles(ctx: ApiContext, params: ListRolesParams) -> ListResult:
    """The live roles the caller may see (Admin-type roles: root admins only)."""
    wanted = service.RoleFilter(
        uuid=params.id, name=params.name, role_type=params.type, keyword=params.keyword
    )
    roles, total = service.list_roles(ctx.db, ctx.caller, params, wanted)
    return ListResult("role", [role_response(r) for r in roles], total)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRoleParams:
    """Parameters of createRole."""

    name: str = param("Creates a role with this unique name")
    type: RoleType | None = param(f"The type of the role, {_TYPES}", default=None)
    role_id: Uuid | None = param(
        "ID of the role to be cloned from. Either roleid or type must be passed in",
        entity=Entity.ROLE,
        default=None,
    )
    description: str | None = param("The description of the role", default=None)


@commands.command(
    "createRole",
    CreateRoleParams,
    description="Creates a role",
    response_key="role",
    response=ROLE,
    since="4.9.0",
)
def create_role(ctx: ApiContext, params: CreateRoleParams) -> ObjectResult:
    """A custom role of a type, or a copy of another role with its rules."""
    role = service.create_role(
        ctx.db,
        name=params.name,
        role_type=params.type,
        clone_uuid=params.role_id,
        description=params.description,
    )
    return ObjectResult("role", role_response(role))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRoleParams:
    """Parameters of updateRole."""

    id: Uuid = param("ID of the role", entity=Entity.ROLE)
    name: str | None = param("creates a role with this unique name", default=None)
    type: RoleType | None = param(f"The type of the role, {_TYPES}", default=None)
    description: str | None = param("The description of the role", default=None)


@commands.command(
    "updateRole",
    UpdateRoleParams,
    description="Updates a role",
    response_key="role",
    response=ROLE,
    since="4.9.0",
)
def update_role(ctx: ApiContext, params: UpdateRoleParams) -> ObjectResult:
    """Rename a custom role, or change its type or description."""
    role = service.update_role(
        ctx.db,
        params.id,
        name=params.name,
        role_type=params.type,
        description=params.description,
    )
    return ObjectResult("role", role_response(role))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRoleParams:
    """Parameters of deleteRole."""

    id: Uuid = param("ID of the role", entity=Entity.ROLE)


@commands.command(
    "deleteRole",
    DeleteRoleParams,
    description="Deletes a role",
    response_key="success",
    response=SUCCESS,
    since="4.9.0",
)
def delete_role(ctx: ApiContext, params: DeleteRoleParams) -> FlatResult:
    """Delete a custom role no account has."""
    service.delete_role(ctx.db, params.id, ctx.clock)
    return FlatResult({"success": True})


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRolePermissionParams:
    """Parameters of createRolePermission."""

    role_id: Uuid = param("ID of the role", entity=Entity.ROLE)
    rule: str = param("The API name or wildcard rule such as list*")
    permission: Permission = param("The rule permission, allow or deny.")
    description: str | None = param("The description of the role permission", default=None)


@commands.command(
    "createRolePermission",
    CreateRolePermissionParams,
    description="Adds an API permission to a role",
    response_key="rolepermission",
    response=ROLE_PERMISSION,
    since="4.9.0",
)
def create_role_permission(ctx: ApiContext, params: CreateRolePermissionParams) -> ObjectResult:
    """Add a rule at the end of a custom role's rules."""
    record = service.create_rule(
        ctx.db,
        params.role_id,
        rule=params.rule,
        permission=params.permission,
        description=params.description,
    )
    return ObjectResult("rolepermission", rule_response(record))


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRolePermissionsParams:
    """Parameters of listRolePermissions."""

    role_id: Uuid | None = param("ID of the role", entity=Entity.ROLE, default=None)


@commands.command(
    "listRolePermissions",
    ListRolePermissionsParams,
    description="Lists role permissions",
    response_key="rolepermission",
    response=ROLE_PERMISSION,
    since="4.9.0",
)
def list_role_permissions(ctx: ApiContext, params: ListRolePermissionsParams) -> ListResult:
    """A role's rules in evaluation order (a default role's: the catalog's, implicitly)."""
    records = service.list_rules(ctx.db, params.role_id)
    return ListResult("rolepermission", [rule_response(r) for r in records], len(records))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRolePermissionParams:
    """Parameters of updateRolePermission."""

    role_id: Uuid = param("ID of the role", entity=Entity.ROLE)
    rule_order: list[Uuid] | None = param(
        "The role permission ids in their new order; every rule of the role, once",
        entity=Entity.ROLE_PERMISSION,
        default=None,
    )
    rule_id: Uuid | None = param(
        "Role permission rule id", entity=Entity.ROLE_PERMISSION, default=None
    )
    permission: Permission | None = param("Rule permission, can be: allow or deny", default=None)


@commands.command(
    "updateRolePermission",
    UpdateRolePermissionParams,
    description="Updates a role permission order",
    response_key="success",
    response=SUCCESS,
    since="4.9.0",
)
def update_role_permission(ctx: ApiContext, params: UpdateRolePermissionParams) -> FlatResult:
    """Reorder a custom role's rules, or make one rule allow or deny."""
    if params.rule_order is not None:
        if params.rule_id is not None or params.permission is not None:
            raise InvalidParameterError(
                "ruleorder",
                "Parameters permission and ruleid must be mutually exclusive with ruleorder",
            )
        service.reorder_rules(ctx.db, params.role_id, list(params.rule_order))
    elif params.rule_id is not None and params.permission is not None:
        service.set_rule_permission(ctx.db, params.role_id, params.rule_id, params.permission)
    else:
        raise InvalidParameterError(
            "ruleorder", "Either ruleorder, or ruleid and permission must be passed"
        )
    return FlatResult({"success": True})


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRolePermissionParams:
    """Parameters of deleteRolePermission."""

    id: Uuid = param("ID of the role permission", entity=Entity.ROLE_PERMISSION)


@commands.command(
    "deleteRolePermission",
    DeleteRolePermissionParams,
    description="Deletes a role permission",
    response_key="success",
    response=SUCCESS,
    since="4.9.0",
)
def delete_role_permission(ctx: ApiContext, params: DeleteRolePermissionParams) -> FlatResult:
    """Remove one rule of a custom role."""
    service.delete_rule(ctx.db, params.id)
    return FlatResult({"success": True})
