"""CloudStack's four default roles and the account type each role type goes with (pure)."""

from dataclasses import dataclass

from kvmcloud.server.accounts.models import AccountType, RoleType

__all__ = [
    "DEFAULT_ROLES",
    "ROOT_ADMIN_ROLE",
    "DefaultRole",
    "RoleType",
    "account_type_of",
    "role_by_uuid",
    "role_of",
]

# Resource Admin has no account type in kvmcloud (CloudStack's type 3 is not offered).
_ACCOUNT_TYPES = {
    RoleType.ADMIN: AccountType.ADMIN,
    RoleType.DOMAIN_ADMIN: AccountType.DOMAIN_ADMIN,
    RoleType.USER: AccountType.USER,
}


@dataclass(frozen=True, slots=True)
class DefaultRole:
    """A default role: CloudStack's name, type and description; a fixed uuid for the API."""

    id: int
    uuid: str
    name: str
    type: RoleType
    description: str
    account_type: AccountType | None


# CloudStack seeds these four rows (ids 1-4) in every installation; their uuids are random
# there, fixed here so that every kvmcloud answers the same. Resource Admin has no account
# type of its own in kvmcloud (CloudStack's type 3 is not offered): it is listed, not given.
DEFAULT_ROLES: tuple[DefaultRole, ...] = (
    DefaultRole(
        1,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0001",
        "Root Admin",
        RoleType.ADMIN,
        "Default root admin role",
        AccountType.ADMIN,
    ),
    DefaultRole(
        2,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0002",
        "Resource Admin",
        RoleType.RESOURCE_ADMIN,
        "Default resource admin role",
        None,
    ),
    DefaultRole(
        3,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0003",
        "Domain Admin",
        RoleType.DOMAIN_ADMIN,
        "Default domain admin role",
        AccountType.DOMAIN_ADMIN,
    ),
    DefaultRole(
        4,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0004",
        "User",
        RoleType.USER,
        "Default user role",
        AccountType.USER,
    ),
)


ROOT_ADMIN_ROLE = DEFAULT_ROLES[0]


def account_type_of(role_type: RoleType) -> AccountType | None:
    """The account type a role of ``role_type`` gives its accounts; None: not given to any."""
    return _ACCOUNT_TYPES.get(role_type)


def role_of(account_type: AccountType) -> DefaultRole:
    """The default role an account of ``account_type`` has."""
    return next(role for role in DEFAULT_ROLES if role.account_type == account_type)


def role_by_uuid(uuid: str) -> DefaultRole | None:
    """The default role with this uuid, or None."""
    return next((role for role in DEFAULT_ROLES if role.uuid == uuid.lower()), None)
