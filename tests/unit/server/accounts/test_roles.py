"""Which account type each role type gives, with plain values."""

from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.accounts.roles import (
    DEFAULT_ROLES,
    ROOT_ADMIN_ROLE,
    RoleType,
    account_type_of,
    role_of,
)


def test_role_types_give_account_types_but_resource_admin() -> None:
    assert account_type_of(RoleType.ADMIN) is AccountType.ADMIN
    assert account_type_of(RoleType.DOMAIN_ADMIN) is AccountType.DOMAIN_ADMIN
    assert account_type_of(RoleType.USER) is AccountType.USER
    assert account_type_of(RoleType.RESOURCE_ADMIN) is None


def test_default_roles_keep_cloudstack_ids() -> None:
    assert [r.id for r in DEFAULT_ROLES] == [1, 2, 3, 4]
    assert ROOT_ADMIN_ROLE is role_of(AccountType.ADMIN)
    for role in DEFAULT_ROLES:
        assert role.account_type == account_type_of(role.type)
