"""CloudStack's four default roles and the account type each goes with (pure catalog)."""

from dataclasses import dataclass
from enum import StrEnum

from kvmcloud.server.accounts.models import AccountType


class RoleType(StrEnum):
    """CloudStack's RoleType names (its masks: Admin 1, ResourceAdmin 2, DomainAdmin 4, User 8)."""

    ADMIN = "Admin"
    RESOURCE_ADMIN = "ResourceAdmin"
    DOMAIN_ADMIN = "DomainAdmin"
    USER = "User"


@dataclass(frozen=True, slots=True)
class Role:
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
DEFAULT_ROLES: tuple[Role, ...] = (
    Role(
        1,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0001",
        "Root Admin",
        RoleType.ADMIN,
        "Default root admin role",
        AccountType.ADMIN,
    ),
    Role(
        2,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0002",
        "Resource Admin",
        RoleType.RESOURCE_ADMIN,
        "Default resource admin role",
        None,
    ),
    Role(
        3,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0003",
        "Domain Admin",
        RoleType.DOMAIN_ADMIN,
        "Default domain admin role",
        AccountType.DOMAIN_ADMIN,
    ),
    Role(
        4,
        "c2b2e6a8-6d0f-4a61-9d4f-5b8f3a1e0004",
        "User",
        RoleType.USER,
        "Default user role",
        AccountType.USER,
    ),
)


def role_of(account_type: AccountType) -> Role:
    """The default role an account of ``account_type`` has."""
    return next(role for role in DEFAULT_ROLES if role.account_type == account_type)


def role_by_uuid(uuid: str) -> Role | None:
    """The default role with this uuid, or None."""
    return next((role for role in DEFAULT_ROLES if role.uuid == uuid.lower()), None)
