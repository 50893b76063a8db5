"""Create, list, change and delete roles and their rules; pick an account's role (RoleManager)."""

import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import (
    Account,
    AccountType,
    Domain,
    Permission,
    Role,
    RolePermission,
    RoleType,
)
from kvmcloud.server.accounts.permissions import (
    DEFAULT_PERMISSIONS,
    allowed_by_default,
    escalations,
    is_valid_rule,
)
from kvmcloud.server.accounts.roles import ROOT_ADMIN_ROLE, account_type_of, role_of
from kvmcloud.server.accounts.service import role_grant
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, PermissionDeniedError
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged

# Ids of the rules a default role has implicitly (listRolePermissions): stable, not stored.
_IMPLICIT_RULES = uuid_module.UUID("5d1f0c7e-2b7a-4c3e-9a51-7f3c2e8b0d11")
_IN_USE = "Found accounts that have role in use, won't allow to"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleFilter:
    """What listRoles was asked for."""

    uuid: str | None = None
    name: str | None = None
    role_type: RoleType | None = None
    keyword: str | None = None


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """A rule as listRolePermissions shows it, with its role."""

    uuid: str
    role: Role
    rule: str
    permission: Permission
    description: str | None


def list_roles(
    db: Database, caller: Caller, page: PageRequest, wanted: RoleFilter
) -> tuple[list[Role], int]:
    """The live roles; only root admins see roles of the Admin type, as in CloudStack."""
    with db.transaction() as session:
        query = select(Role).where(Role.removed.is_(None))
        if not caller.is_admin:
            query = query.where(Role.role_type != RoleType.ADMIN)
        if wanted.uuid:
            query = query.where(Role.uuid == wanted.uuid)
        if wanted.name:
            query = query.where(func.lower(Role.name) == wanted.name.lower())
        if wanted.role_type is not None:
            query = query.where(Role.role_type == wanted.role_type)
        if wanted.keyword:
            query = query.where(func.lower(Role.name).contains(wanted.keyword.lower()))
        return paged(session, query.order_by(Role.id), list_window(session, page))


def create_role(
    db: Database,
    *,
    name: str,
    role_type: RoleType | None,
    clone_uuid: str | None,
    description: str | None,
) -> Role:
    """A custom role of ``role_type``, or a copy (type and rules) of the role ``clone_uuid``.

    Raises:
        InvalidParameterError: neither or both of type and roleid, a blank or taken name.
    """
    if role_type is None and clone_uuid is None:
        raise InvalidParameterError("type", "Neither role type nor role ID is provided")
    if role_type is not None and clone_uuid is not None:
        raise InvalidParameterError("type", "Both role type and role ID should not be specified")
    with db.transaction() as session:
        _check_name(session, name)
        source = (
            get_by_uuid(session, Role, clone_uuid, command="createRole", param="roleid")
            if clone_uuid
            else None
        )
        role = Role(
            name=name,
            role_type=source.role_type if source else role_type,
            description=description,
            is_default=False,
        )
        session.add(role)
        session.flush()
        if source is not None:
            for rule in _rules(session, source):
                session.add(
                    RolePermission(
                        role_id=role.id,
                        rule=rule.rule,
                        permission=rule.permission,
                        description=rule.description,
                        sort_order=rule.sort_order,
                    )
                )
            session.flush()
        return role


def update_role(
    db: Database,
    uuid: str,
    *,
    name: str | None,
    role_type: RoleType | None,
    description: str | None,
) -> Role:
    """Rename a custom role, change its description, or its type while no account has it.

    Raises:
        PermissionDeniedError: a default role, or a type change while accounts have it.
    """
    with db.transaction() as session:
        role = _custom_role(session, uuid, "updateRole", "Default roles cannot be updated")
        if name is not None and name != role.name:
            _check_name(session, name)
            role.name = name
        if role_type is not None and role_type != role.role_type:
            if _in_use(session, role):
                raise PermissionDeniedError(f"{_IN_USE} change role type")
            role.role_type = role_type
        if description:
            role.description = description
        session.flush()
        return role


def delete_role(db: Database, uuid: str, clock: Callable[[], datetime]) -> None:
    """Remove a custom role no live account has, with its rules; its name is free again.

    Raises:
        PermissionDeniedError: a default role, or one an account has.
    """
    with db.transaction() as session:
        role = _custom_role(session, uuid, "deleteRole", "Default roles cannot be deleted")
        if _in_use(session, role):
            raise PermissionDeniedError(f"{_IN_USE} delete role")
        for rule in _rules(session, role):
            session.delete(rule)
        role.removed = clock()


def create_rule(
    db: Database,
    role_uuid: str,
    *,
    rule: str,
    permission: Permission,
    description: str | None,
) -> RuleRecord:
    """Add a rule at the end of a custom role's list.

    Raises:
        InvalidParameterError: the rule is not an API name or wildcard.
        PermissionDeniedError: a default role, or the role has that rule already.
    """
    if not is_valid_rule(rule):
        raise InvalidParameterError(
            "rule", "Only API names and wildcards are allowed, invalid rule provided"
        )
    with db.transaction() as session:
        role = _custom_role(
            session,
            role_uuid,
            "createRolePermission",
            "Role permission cannot be added for Default roles",
            param="roleid",
        )
        existing = _rules(session, role)
        if any(r.rule.lower() == rule.lower() for r in existing):
            raise PermissionDeniedError(f"Rule already exists for the role: {role.name}")
        row = RolePermission(
            role_id=role.id,
            rule=rule,
            permission=permission,
            description=description,
            sort_order=max((r.sort_order for r in existing), default=-1) + 1,
        )
        session.add(row)
        session.flush()
        return _record(row, role)


def list_rules(db: Database, role_uuid: str | None) -> list[RuleRecord]:
    """The rules of one role (or of every live role), in the order they are evaluated.

    A default role has no stored rules: its rules are the catalog's commands for its type
    (Root Admin: ``*``), listed with stable ids.
    """
    with db.transaction() as session:
        if role_uuid:
            roles = [
                get_by_uuid(session, Role, role_uuid, command="listRolePermissions", param="roleid")
            ]
        else:
            roles = list(
                session.scalars(select(Role).where(Role.removed.is_(None)).order_by(Role.id))
            )
        records: list[RuleRecord] = []
        for role in roles:
            if role.is_default:
                records.extend(_implicit_rules(role))
            else:
                records.extend(_record(r, role) for r in _rules(session, role))
        return records


def reorder_rules(db: Database, role_uuid: str, order: list[str]) -> None:
    """Put a custom role's rules in the given order; ``order`` must name each rule once.

    Raises:
        InvalidParameterError: ``ruleorder`` does not list exactly the role's rules.
        PermissionDeniedError: a default role.
    """
    with db.transaction() as session:
        role = _custom_role(
            session,
            role_uuid,
            "updateRolePermission",
            "Role permission cannot be updated for Default roles",
            param="roleid",
        )
        by_uuid = {r.uuid: r for r in _rules(session, role)}
        if len(order) != len(set(order)) or set(order) != set(by_uuid):
            raise InvalidParameterError(
                "ruleorder",
                f"Invalid parameter ruleorder: list each of the {len(by_uuid)} rules of role "
                f"{role.name} once",
            )
        for position, rule_uuid in enumerate(order):
            by_uuid[rule_uuid].sort_order = position


def set_rule_permission(
    db: Database, role_uuid: str, rule_uuid: str, permission: Permission
) -> None:
    """Make one rule of a custom role allow or deny.

    Raises:
        InvalidParameterError: the rule is not the role's.
        PermissionDeniedError: a default role.
    """
    with db.transaction() as session:
        role = _custom_role(
            session,
            role_uuid,
            "updateRolePermission",
            "Role permission cannot be updated for Default roles",
            param="roleid",
        )
        row = _rule_of(session, role, rule_uuid, "updateRolePermission", "ruleid")
        row.permission = permission


def delete_rule(db: Database, uuid: str) -> None:
    """Remove a rule from a custom role (default roles have no stored rules to remove)."""
    with db.transaction() as session:
        row = get_by_uuid(session, RolePermission, uuid, command="deleteRolePermission", param="id")
        session.delete(row)


def account_role(
    session: Session,
    caller: Caller,
    *,
    account_type: AccountType | None,
    role_uuid: str | None,
    command: str,
) -> Role:
    """The role a new account gets: ``roleid``'s, else the default role of ``accounttype``.

    Raises:
        InvalidParameterError: neither given, a role no account may have, or one whose
            type does not match ``accounttype``.
        PermissionDeniedError: the role could call commands the caller's role may not.
    """
    if role_uuid is None:
        if account_type is None:
            raise InvalidParameterError(
                "accounttype", "Either accounttype or roleid must be passed"
            )
        return session.get_one(Role, role_of(account_type).id)
    role = get_by_uuid(session, Role, role_uuid, command=command, param="roleid")
    given = account_type_of(role.role_type)
    if given is None:
        raise InvalidParameterError(
            "roleid", f"Invalid parameter roleid: role {role.name} cannot be given to accounts"
        )
    if account_type is not None and account_type != given:
        raise InvalidParameterError(
            "roleid", "Invalid parameter roleid: the role does not match accounttype"
        )
    if given == AccountType.ADMIN and not caller.is_admin:
        raise PermissionDeniedError("Domain admins can't create root admin accounts")
    check_no_escalation(session, caller, role)
    return role


def changed_role(session: Session, caller: Caller, account: Account, role_uuid: str) -> Role:
    """The role ``updateAccount roleid`` gives ``account``: of the same type as its current one.

    Raises:
        InvalidParameterError: the role's type differs from the account's role's type.
        PermissionDeniedError: the role could call commands the caller's role may not.
    """
    role = get_by_uuid(session, Role, role_uuid, command="updateAccount", param="roleid")
    current = session.get_one(Role, account.role_id)
    if role.id == current.id:
        return role
    if role.role_type != current.role_type:
        raise InvalidParameterError(
            "roleid",
            f"Invalid parameter roleid: role {role.name} is of type {role.role_type.value} and "
            f"the account's role of type {current.role_type.value}; the type cannot change",
        )
    check_no_escalation(session, caller, role)
    return role


def check_no_escalation(session: Session, caller: Caller, role: Role) -> None:
    """Refuse (531) a role that could call a command the caller's own role may not."""
    if caller.grant.root:
        return
    more = escalations(role_grant(session, role), caller.grant, sorted(DEFAULT_PERMISSIONS))
    if more:
        domain = session.get_one(Domain, caller.domain_id)
        raise PermissionDeniedError(
            f"User of Account {caller.account_name} and domain {domain.name} can not create "
            "an account with access to more privileges they have themself."
        )


def _check_name(session: Session, name: str) -> None:
    if not name.strip():
        raise InvalidParameterError("name", "Invalid parameter name: a role name may not be blank")
    taken = session.scalars(
        select(Role.id).where(func.lower(Role.name) == name.lower(), Role.removed.is_(None))
    ).first()
    if taken is not None:
        raise InvalidParameterError("name", f"A role with name {name} already exists")


def _custom_role(
    session: Session, uuid: str, command: str, refusal: str, *, param: str = "id"
) -> Role:
    role = get_by_uuid(session, Role, uuid, command=command, param=param)
    if role.is_default:
        raise PermissionDeniedError(refusal)
    return role


def _in_use(session: Session, role: Role) -> bool:
    return (
        session.scalars(
            select(Account.id).where(Account.role_id == role.id, Account.removed.is_(None))
        ).first()
        is not None
    )


def _rules(session: Session, role: Role) -> list[RolePermission]:
    return list(
        session.scalars(
            select(RolePermission)
            .where(RolePermission.role_id == role.id)
            .order_by(RolePermission.sort_order, RolePermission.id)
        )
    )


def _rule_of(session: Session, role: Role, uuid: str, command: str, param: str) -> RolePermission:
    row = get_by_uuid(session, RolePermission, uuid, command=command, param=param)
    if row.role_id != role.id:
        raise InvalidParameterError(
            param, f"Invalid parameter {param}: rule {uuid} is not a rule of role {role.name}"
        )
    return row


def _record(row: RolePermission, role: Role) -> RuleRecord:
    return RuleRecord(row.uuid, role, row.rule, row.permission, row.description)


def _implicit_rules(role: Role) -> list[RuleRecord]:
    commands = (
        ["*"]
        if role.uuid == ROOT_ADMIN_ROLE.uuid
        else sorted(c for c in DEFAULT_PERMISSIONS if allowed_by_default(role.role_type, c))
    )
    return [
        RuleRecord(
            str(uuid_module.uuid5(_IMPLICIT_RULES, f"{role.uuid}/{command}")),
            role,
            command,
            Permission.ALLOW,
            "default",
        )
        for command in commands
    ]
