"""Who sees which domains and accounts: root admin all, domain admin a subtree, user self (pure)."""

from dataclasses import dataclass

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.errors import InvalidParameterError, PermissionDeniedError

ROOT_PATH = "/"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a list command returns: accounts under a domain path, or one account only.

    ``subtree`` false means the domain at ``domain_path`` itself, not its descendants;
    ``account_id`` set means that account only (a plain user, or an ``account`` filter).
    """

    domain_path: str
    subtree: bool
    account_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnerFilter:
    """The ``account``, ``domainid``, ``isrecursive`` and ``listall`` filters of a list."""

    account_name: str | None = None
    domain_uuid: str | None = None
    is_recursive: bool = False
    list_all: bool = False


def in_subtree(path: str, ancestor_path: str) -> bool:
    """Whether the domain at ``path`` is ``ancestor_path`` or below it (paths end with /)."""
    return path.startswith(ancestor_path)


def is_manager(caller: Caller) -> bool:
    """Whether the caller administers a domain: a root admin or a domain admin."""
    return caller.is_admin or caller.account_type == AccountType.DOMAIN_ADMIN


def in_scope(scope: Scope, account_id: int, domain_path: str) -> bool:
    """Whether a resource of ``account_id`` in the domain at ``domain_path`` is in ``scope``."""
    if scope.account_id is not None:
        return account_id == scope.account_id
    if scope.subtree:
        return in_subtree(domain_path, scope.domain_path)
    return domain_path == scope.domain_path


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


def check_domain_reach(caller: Caller, domain_path: str, domain_uuid: str) -> None:
    """Refuse with 531 a ``domainid`` filter the caller may not see (a user: not theirs)."""
    if not may_see_domain(caller, domain_path):
        raise PermissionDeniedError(
            f"Account {caller.account_name} does not have permission to access domain {domain_uuid}"
        )


def check_account_reach(caller: Caller, account_id: int, domain_path: str, name: str) -> None:
    """Refuse with 531 an ``account`` filter naming an account the caller may not see."""
    if not may_see_account(caller, account_id, domain_path):
        raise PermissionDeniedError(
            f"Account {caller.account_name} does not have permission to access account {name}"
        )


def names_other_owner(caller: Caller, *, account_name: str | None, domain_uuid: str | None) -> bool:
    """CloudStack's finalizeOwner: whether ``account`` + ``domainid`` name an owner to look up.

    Both or neither must be given (431). A plain user may name only their own account
    (531); admins and domain admins name any account, which the caller then looks up and
    checks against the domains they manage.
    """
    if account_name is None and domain_uuid is None:
        return False
    if account_name is None or domain_uuid is None:
        missing = "domainid" if domain_uuid is None else "account"
        raise InvalidParameterError(missing, "AccountName and domainId must be specified together")
    if is_manager(caller):
        return True
    if account_name != caller.account_name or domain_uuid != caller.domain_uuid:
        raise PermissionDeniedError(
            f"Can't create/list resources for account {account_name} in domain {domain_uuid}, "
            "permission denied"
        )
    return False


def check_owner_enabled(state: str, *, account_uuid: str, account_name: str, what: str) -> None:
    """Refuse (531) to create ``what`` for an account that is disabled or locked.

    CloudStack's text for a VM: ``The owner of vm to deploy is disabled: Acct[…]``.
    """
    if state != "enabled":
        raise PermissionDeniedError(
            f"The owner of {what} is {state}: Acct[{account_uuid}-{account_name}]"
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
