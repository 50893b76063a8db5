"""Who sees which domains and accounts: root admin all, domain admin a subtree, user self (pure)."""

from dataclasses import dataclass

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.errors import PermissionDeniedError


@dataclass(frozen=True, slots=True)
class Scope:
    """What a list command returns: accounts under a domain path, or one account only.

    ``subtree`` false means the domain at ``domain_path`` itself, not its descendants;
    ``account_id`` set means that account only (a plain user, or an ``account`` filter).
    """

    domain_path: str
    subtree: bool
    account_id: int | None = None


def in_subtree(path: str, ancestor_path: str) -> bool:
    """Whether the domain at ``path`` is ``ancestor_path`` or below it (paths end with /)."""
    return path.startswith(ancestor_path)


def may_see_domain(caller: Caller, domain_path: str) -> bool:
    """Root admins see every domain, domain admins their subtree, users their own domain."""
    if caller.is_admin:
        return True
    if caller.account_type == AccountType.DOMAIN_ADMIN:
        return in_subtree(domain_path, caller.domain_path)
    return domain_path == caller.domain_path


def check_domain_access(caller: Caller, domain_path: str, domain_uuid: str) -> None:
    """Refuse with CloudStack's 531 a domain outside what the caller manages."""
    manages = caller.is_admin or (
        caller.account_type == AccountType.DOMAIN_ADMIN
        and in_subtree(domain_path, caller.domain_path)
    )
    if not manages:
        raise PermissionDeniedError(
            f"Account {caller.account_name} does not have permission to access domain {domain_uuid}"
        )


def check_rank(caller: Caller, account_type: AccountType, name: str, uuid: str) -> None:
    """Refuse with CloudStack's 531 a caller acting on an account of a higher role type.

    A domain admin whose subtree holds a root admin account (ROOT's domain admins always
    do) may see it, but never disable, delete or rename it, nor read or reset its users'
    keys: that would make them root admin. CloudStack's
    checkCallerRoleTypeAllowedForUserOrAccountOperations says the same.
    """
    if caller.is_admin or account_type != AccountType.ADMIN:
        return
    raise PermissionDeniedError(
        f"The calling account [{caller.account_name}, {caller.account_uuid}] has a lower "
        f"role type than the user account [{name}, {uuid}]"
    )


def may_see_account(caller: Caller, account_id: int, domain_path: str) -> bool:
    """Admins see the accounts of the domains they manage; a user sees their own account."""
    if caller.is_admin:
        return True
    if caller.account_type == AccountType.DOMAIN_ADMIN:
        return in_subtree(domain_path, caller.domain_path)
    return account_id == caller.account_id


def list_scope(
    caller: Caller,
    *,
    domain_path: str | None,
    is_recursive: bool,
    list_all: bool,
    account_id: int | None,
    by_id: bool = False,
    own_account_by_default: bool = True,
) -> Scope:
    """CloudStack's buildACLSearchParameters for accounts, users and the resources they own.

    ``domain_path`` is the ``domainid`` filter's domain (already checked with
    check_domain_access), ``account_id`` the ``account`` filter's account. A plain user
    always gets their own account. An admin without filters gets: with ``listall``, every
    account under their domain; without it, their own account only (CloudStack lists the
    caller's own resources unless asked for all). Only ``isrecursive`` extends a
    ``domainid`` filter to the subtree, as in CloudStack.

    ``by_id`` (an ``id`` filter) looks in the caller's whole reach. listUsers lists the
    users of the caller's domain by default (``own_account_by_default`` false), as
    CloudStack's searchForUsers does.
    """
    if not caller.is_admin and caller.account_type != AccountType.DOMAIN_ADMIN:
        return Scope(caller.domain_path, subtree=False, account_id=caller.account_id)
    if account_id is not None:
        return Scope(domain_path or caller.domain_path, subtree=False, account_id=account_id)
    if domain_path is not None:
        return Scope(domain_path, subtree=is_recursive)
    if list_all or by_id:
        return Scope(caller.domain_path, subtree=True)
    if not own_account_by_default:
        return Scope(caller.domain_path, subtree=False)
    return Scope(caller.domain_path, subtree=False, account_id=caller.account_id)
