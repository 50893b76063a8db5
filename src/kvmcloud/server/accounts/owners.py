"""Owners in the database: list filters to scopes, owners named by account+domainid, access."""

from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.access import check_owner
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, AccountType, Domain
from kvmcloud.server.accounts.visibility import (
    ROOT_PATH,
    OwnerFilter,
    Scope,
    check_account_reach,
    check_domain_access,
    check_domain_reach,
    check_owner_enabled,
    list_scope,
    names_other_owner,
)
from kvmcloud.server.errors import InvalidParameterError, NotFoundError


def live_account(session: Session, domain_id: int, name: str) -> Account | None:
    """The account named ``name`` in a domain that exists and is not removed, if any."""
    return session.scalars(
        select(Account).where(
            Account.domain_id == domain_id,
            Account.account_name == name,
            Account.removed.is_(None),
        )
    ).first()


def scope_of(
    session: Session,
    caller: Caller,
    wanted: OwnerFilter,
    *,
    command: str,
    by_id: bool = False,
    own_account_by_default: bool = True,
) -> Scope:
    """Resolve a list's ``domainid`` and ``account`` filters, then apply list_scope.

    ``account`` without ``domainid`` looks in the caller's domain, as CloudStack does.

    Raises:
        NotFoundError: ``domainid`` names no live domain (431).
        InvalidParameterError: ``account`` names no live account of the domain (431).
        PermissionDeniedError: the domain or account is out of the caller's reach (531).
    """
    domain_path: str | None = None
    domain_id, domain_uuid = caller.domain_id, caller.domain_uuid
    if wanted.domain_uuid:
        domain = _domain(session, wanted.domain_uuid, command)
        check_domain_reach(caller, domain.path, domain.uuid)
        domain_path, domain_id, domain_uuid = domain.path, domain.id, domain.uuid
    account_id: int | None = None
    if wanted.account_name:
        account = live_account(session, domain_id, wanted.account_name)
        if account is None:
            raise InvalidParameterError(
                "account", f"Unable to find account {wanted.account_name} in domain {domain_uuid}"
            )
        path = domain_path or caller.domain_path
        check_account_reach(caller, account.id, path, wanted.account_name)
        account_id = account.id
    return list_scope(
        caller,
        domain_path=domain_path,
        is_recursive=wanted.is_recursive,
        list_all=wanted.list_all,
        account_id=account_id,
        by_id=by_id,
        own_account_by_default=own_account_by_default,
    )


def owned_by(
    scope: Scope, account_column: Any, *, domain_column: Any = None
) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows whose owner is in ``scope``.

    Rows are matched on their account, or on ``domain_column`` when they record their own
    domain (events). The whole tree from ROOT keeps every row, those of no account too.
    """
    if scope.account_id is not None:
        return account_column == scope.account_id  # type: ignore[no-any-return]
    if scope.subtree and scope.domain_path == ROOT_PATH:
        return true()
    domains = select(Domain.id).where(
        Domain.path.startswith(scope.domain_path, autoescape=True)
        if scope.subtree
        else Domain.path == scope.domain_path
    )
    if domain_column is not None:
        return domain_column.in_(domains)  # type: ignore[no-any-return]
    accounts = select(Account.id).where(Account.domain_id.in_(domains))
    return account_column.in_(accounts)  # type: ignore[no-any-return]


def owner_for(
    session: Session,
    caller: Caller,
    *,
    account_name: str | None,
    domain_uuid: str | None,
    command: str,
    what: str,
) -> Account | None:
    """The enabled account a create names with ``account`` and ``domainid`` (None: the caller).

    ``what`` says what is being created, for the refusal of a disabled owner
    (``vm to deploy``).

    Raises:
        InvalidParameterError: only one of the two given, or no such account (431).
        PermissionDeniedError: a user naming another account, a domain out of the caller's
            reach, or an owner that is not enabled (531).
    """
    if not names_other_owner(caller, account_name=account_name, domain_uuid=domain_uuid):
        return None
    assert account_name is not None and domain_uuid is not None
    domain = _domain(session, domain_uuid, command)
    # The domain is checked before the account is looked up: a refusal tells nothing of
    # the account names of domains the caller does not manage.
    check_domain_access(caller, domain.path, domain.uuid)
    account = live_account(session, domain.id, account_name)
    if account is None:
        raise InvalidParameterError(
            "account", f"Unable to find account {account_name} in domain {domain.uuid}"
        )
    check_owner_enabled(
        account.state, account_uuid=account.uuid, account_name=account.account_name, what=what
    )
    return account


def domain_path_of(session: Session, account_id: int | None) -> str | None:
    """The path of the domain of account ``account_id`` (None: no such account)."""
    if account_id is None:
        return None
    return session.scalar(
        select(Domain.path)
        .join(Account, Account.domain_id == Domain.id)
        .where(Account.id == account_id)
    )


def needs_owner_path(caller: Caller, owner_account_id: int | None) -> bool:
    """Whether an access check needs the owner's domain: a domain admin, not the owner."""
    return (
        caller.account_type == AccountType.DOMAIN_ADMIN
        and owner_account_id is not None
        and owner_account_id != caller.account_id
    )


def owner_path_for(session: Session, caller: Caller, owner_account_id: int | None) -> str | None:
    """The owner's domain path when an access check needs it, else None (no query)."""
    if not needs_owner_path(caller, owner_account_id):
        return None
    return domain_path_of(session, owner_account_id)


def check_access(
    session: Session, caller: Caller, owner_account_id: int | None, resource: str
) -> None:
    """CloudStack's checkAccess on a resource of ``owner_account_id`` (531 when refused)."""
    check_owner(
        caller, owner_account_id, resource, owner_path_for(session, caller, owner_account_id)
    )


def _domain(session: Session, uuid: str, command: str) -> Domain:
    domain = session.scalars(
        select(Domain).where(Domain.uuid == uuid, Domain.removed.is_(None))
    ).first()
    if domain is None:
        raise NotFoundError(command, "domainid", uuid)
    return domain
