"""Create, list, change and delete accounts and users, and their API keys (AccountManager)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, AccountType, Domain, Role, User
from kvmcloud.server.accounts.owners import live_account, scope_of
from kvmcloud.server.accounts.passwords import verify_password
from kvmcloud.server.accounts.roles import account_type_of
from kvmcloud.server.accounts.service import (
    ADMIN_NAME,
    ApiKeys,
    new_pair,
    secret_key_of,
    set_password,
)
from kvmcloud.server.accounts.sessions import end_sessions
from kvmcloud.server.accounts.visibility import (
    OwnerFilter,
    check_domain_access,
    check_rank,
    in_subtree,
)
from kvmcloud.server.db import Database, new_uuid
from kvmcloud.server.directory.domains import check_active, domain_of
from kvmcloud.server.directory.records import AccountRecord, UserRecord
from kvmcloud.server.errors import (
    InvalidParameterError,
    PermissionDeniedError,
)
from kvmcloud.server.paging import PageRequest, PageWindow
from kvmcloud.server.queries import get_by_uuid, list_window
from kvmcloud.server.roles.service import account_role, changed_role
from kvmcloud.server.sealing.box import SecretBox

S = TypeVar("S", bound=Select[*tuple[Any, ...]])
ENABLED, DISABLED, LOCKED = "enabled", "disabled", "locked"
# A deleted account is removing while its job takes its VMs, templates and ISOs away.
REMOVING, REMOVED = "removing", "removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonFilter:
    """The filters listAccounts and listUsers share."""

    uuid: str | None = None
    name: str | None = None
    owners: OwnerFilter = field(default_factory=OwnerFilter)
    state: str | None = None
    keyword: str | None = None
    account_type: AccountType | None = None


@dataclass(frozen=True, slots=True)
class AccountRef:
    """How a command names an account: ``id``, or ``account`` with ``domainid``."""

    uuid: str | None = None
    name: str | None = None
    domain_uuid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewUser:
    """The user details createAccount and createUser take."""

    username: str
    first_name: str | None
    last_name: str | None
    email: str | None
    # Clear text only on its way to the hash; kept out of repr so no log shows it.
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """updateUser's new password, and the current one a plain user must also give."""

    new: str = field(repr=False)
    current: str | None = field(default=None, repr=False)


def create_account(
    db: Database,
    caller: Caller,
    user: NewUser,
    *,
    account_name: str | None,
    account_type: AccountType | None,
    role_uuid: str | None,
    domain_uuid: str | None,
    clock: Callable[[], datetime],
) -> AccountRecord:
    """Create an account with its first user (keys are minted by registerUserKeys).

    The account's type is its role's: ``roleid``'s role, else the default role of
    ``accounttype`` (they must agree when both are given).

    Raises:
        PermissionDeniedError: a plain user, a domain outside the caller's, a domain
            admin creating a root admin, or a role with more rights than the caller's.
        InvalidParameterError: no type nor role, or the account or user name is taken.
    """
    _check_manager(caller, "createAccount")
    if account_type == AccountType.ADMIN and not caller.is_admin:
        raise PermissionDeniedError("Domain admins can't create root admin accounts")
    name = account_name or user.username
    with db.transaction() as session:
        role = account_role(
            session,
            caller,
            account_type=account_type,
            role_uuid=role_uuid,
            command="createAccount",
        )
        given_type = account_type_of(role.role_type)
        assert given_type is not None  # account_role gives only roles accounts may have
        domain = (
            domain_of(session, caller, domain_uuid, command="createAccount")
            if domain_uuid
            else session.get_one(Domain, caller.domain_id)
        )
        if live_account(session, domain.id, name) is not None:
            raise InvalidParameterError(
                "account", f"The specified account: {name} already exists in domain {domain.uuid}"
            )
        check_active(domain, "The account")
        _check_free_username(session, domain, user.username)
        account = Account(
            account_name=name,
            type=given_type,
            role_id=role.id,
            domain_id=domain.id,
            created=clock(),
        )
        session.add(account)
        session.flush()
        row = _new_user(session, account, user, clock())
        return AccountRecord(
            account,
            domain,
            role,
            is_default=False,
            users=[_user_record(session, caller, row, account, domain)],
        )


def create_user(
    db: Database,
    caller: Caller,
    user: NewUser,
    *,
    account_name: str,
    domain_uuid: str | None,
    clock: Callable[[], datetime],
) -> UserRecord:
    """Add a user to an account of a domain the caller manages."""
    _check_manager(caller, "createUser")
    with db.transaction() as session:
        domain = (
            domain_of(session, caller, domain_uuid, command="createUser")
            if domain_uuid
            else session.get_one(Domain, caller.domain_id)
        )
        check_active(domain, "The user")
        account = live_account(session, domain.id, account_name)
        if account is None:
            raise InvalidParameterError(
                "account", f"Unable to find account {account_name} in domain {domain.uuid}"
            )
        _check_free_username(session, domain, user.username)
        row = _new_user(session, account, user, clock())
        return _user_record(session, caller, row, account, domain)


def list_accounts(
    db: Database, caller: Caller, page: PageRequest, wanted: PersonFilter
) -> tuple[list[AccountRecord], int]:
    """listAccounts: the accounts the caller may see, with their live users."""
    with db.transaction() as session:
        query = _scoped(session, caller, select(Account, Domain), wanted, command="listAccounts")
        if wanted.name:
            query = query.where(Account.account_name == wanted.name)
        if wanted.keyword:
            query = query.where(Account.account_name.contains(wanted.keyword))
        window = list_window(session, page)
        rows, total = _paged_pairs(session, query.order_by(Account.id), window)
        records = []
        for account, domain in rows:
            users = session.scalars(
                select(User)
                .where(User.account_id == account.id, User.removed.is_(None))
                .order_by(User.id)
            )
            records.append(
                AccountRecord(
                    account,
                    domain,
                    session.get_one(Role, account.role_id),
                    is_default=_is_default(account, domain),
                    users=[_user_record(session, caller, u, account, domain) for u in users],
                )
            )
        return records, total


def list_users(
    db: Database, caller: Caller, page: PageRequest, wanted: PersonFilter
) -> tuple[list[UserRecord], int]:
    """listUsers: the live users of the accounts the caller may see."""
    with db.transaction() as session:
        query = _scoped(
            session,
            caller,
            select(User, Account, Domain).join(Account, User.account_id == Account.id),
            wanted,
            command="listUsers",
        ).where(User.removed.is_(None))
        if wanted.uuid:
            query = query.where(User.uuid == wanted.uuid)
        if wanted.state:
            query = query.where(User.state == wanted.state.lower())
        if wanted.name:
            query = query.where(User.username == wanted.name)
        if wanted.keyword:
            query = query.where(User.username.contains(wanted.keyword))
        rows, total = _paged_pairs(session, query.order_by(User.id), list_window(session, page))
        return [_user_record(session, caller, u, a, d) for u, a, d in rows], total


def set_account_state(
    db: Database, caller: Caller, ref: AccountRef, state: str, *, command: str
) -> AccountRecord:
    """enableAccount, lockAccount: a disabled or locked account's keys fail."""
    with db.transaction() as session:
        return change_account_state(session, caller, ref, state, command=command)


def change_account_state(
    session: Session, caller: Caller, ref: AccountRef, state: str, *, command: str
) -> AccountRecord:
    """Enable, disable or lock an account the caller manages, in the open transaction."""
    account, domain = _managed_account(session, caller, ref, command)
    if account.id == caller.account_id and state != ENABLED:
        raise PermissionDeniedError("Can't disable or lock the account you are calling as")
    account.state = state
    session.flush()
    return account_record(session, account, domain)


def account_record(session: Session, account: Account, domain: Domain) -> AccountRecord:
    """An account with its domain and role, as the disable and state commands answer (no users)."""
    role = session.get_one(Role, account.role_id)
    return AccountRecord(account, domain, role, is_default=_is_default(account, domain))


def update_account(
    db: Database,
    caller: Caller,
    ref: AccountRef,
    *,
    new_name: str | None,
    role_uuid: str | None = None,
) -> AccountRecord:
    """updateAccount: rename an account, or give it another role of the same type.

    A new name must be free among the domain's live accounts.
    """
    with db.transaction() as session:
        account, domain = _managed_account(session, caller, ref, "updateAccount")
        if role_uuid is not None:
            role = changed_role(session, caller, account, role_uuid)
            # The default admin keeps Root Admin: a custom Admin role with deny rules
            # could otherwise lock the cloud's last way in.
            if role.id != account.role_id and _is_default(account, domain):
                raise PermissionDeniedError("The role of the default admin account cannot change")
            account.role_id = role.id
        if new_name and new_name != account.account_name:
            if live_account(session, domain.id, new_name) is not None:
                raise InvalidParameterError(
                    "newname",
                    f"The specified account: {new_name} already exists in domain {domain.uuid}",
                )
            account.account_name = new_name
        session.flush()
        return account_record(session, account, domain)


def account_to_delete(session: Session, caller: Caller, ref: AccountRef) -> tuple[Account, Domain]:
    """The account deleteAccount names: a live one, or by id one still being removed (a retry).

    Raises:
        PermissionDeniedError: the caller's own account, or the default admin.
    """
    command = "deleteAccount"
    if ref.uuid:
        removing = session.scalars(
            select(Account).where(Account.uuid == ref.uuid, Account.state == REMOVING)
        ).first()
        if removing is not None:
            _check_manager(caller, command)
            domain = session.get_one(Domain, removing.domain_id)
            check_domain_access(caller, domain.path, domain.uuid)
            check_rank(caller, removing.type, removing.account_name, removing.uuid)
            return removing, domain
    account, domain = _managed_account(session, caller, ref, command)
    if account.id == caller.account_id or _is_default(account, domain):
        raise PermissionDeniedError(
            f"Account id : {account.uuid} is a system account, delete is not allowed"
        )
    return account, domain


def start_account_removal(session: Session, account: Account, now: datetime) -> None:
    """Mark an account removing and remove its users: their keys and sessions end at once.

    ``removed`` is set now, as CloudStack does: the account leaves every list and its
    name is free again while its job takes its VMs, templates and ISOs away.
    """
    account.state = REMOVING
    account.removed = account.removed or now
    users = session.scalars(
        select(User).where(User.account_id == account.id, User.removed.is_(None))
    )
    for user in users:
        _remove_user(session, user, now)


def finish_account_removal(account: Account) -> None:
    """Record that nothing of the account is left: it is removed."""
    account.state = REMOVED


def managed_user(session: Session, caller: Caller, uuid: str, command: str) -> UserRecord:
    """A live user the caller may manage (themselves, or a user under a domain they admin)."""
    user = get_by_uuid(session, User, uuid, command=command, param="id")
    account = session.get_one(Account, user.account_id)
    domain = session.get_one(Domain, account.domain_id)
    if user.id != caller.user_id:
        _check_manager(caller, command)
        check_domain_access(caller, domain.path, domain.uuid)
        check_rank(caller, account.type, account.account_name, account.uuid)
    return _user_record(session, caller, user, account, domain)


def set_user_state(
    db: Database, caller: Caller, uuid: str, state: str, *, command: str
) -> UserRecord:
    """enableUser: a disabled user's keys work again."""
    with db.transaction() as session:
        return change_user_state(session, caller, uuid, state, command=command)


def change_user_state(
    session: Session, caller: Caller, uuid: str, state: str, *, command: str
) -> UserRecord:
    """Enable or disable a user the caller manages, in the open transaction."""
    record = managed_user(session, caller, uuid, command)
    if record.user.id == caller.user_id and state != ENABLED:
        raise PermissionDeniedError("Can't disable the user you are calling as")
    _check_manager(caller, command)
    record.user.state = state
    session.flush()
    return record


def user_record(session: Session, user: User, *, viewer_domain_path: str) -> UserRecord:
    """A user as someone whose account is in ``viewer_domain_path`` sees it (job results)."""
    account = session.get_one(Account, user.account_id)
    domain = session.get_one(Domain, account.domain_id)
    return _record_for(session, viewer_domain_path, user, account, domain)


def update_user(
    db: Database,
    caller: Caller,
    uuid: str,
    *,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    password: PasswordChange | None = None,
) -> UserRecord:
    """updateUser: names, email and password; a new username must be free in the domain.

    A new password ends the user's other sessions (the caller's own one stays open).
    """
    with db.transaction() as session:
        record = managed_user(session, caller, uuid, "updateUser")
        user = record.user
        if password is not None:
            _check_current_password(caller, user, password)
            set_password(user, password.new)
            end_sessions(session, user, keep=caller.session_id)
        if username and username != user.username:
            _check_free_username(session, record.domain, username)
            user.username = username
        if first_name is not None:
            user.first_name = first_name
        if last_name is not None:
            user.last_name = last_name
        if email is not None:
            user.email = email
        session.flush()
        return record


def delete_user(db: Database, caller: Caller, uuid: str, clock: Callable[[], datetime]) -> None:
    """deleteUser: never the caller, nor an account's last user (CloudStack's rules)."""
    with db.transaction() as session:
        record = managed_user(session, caller, uuid, "deleteUser")
        _check_manager(caller, "deleteUser")
        if record.user.id == caller.user_id or record.is_default:
            raise PermissionDeniedError(
                f"user id : {record.user.uuid} is system account, delete is not allowed"
            )
        others = session.scalars(
            select(User.id).where(
                User.account_id == record.account.id,
                User.removed.is_(None),
                User.id != record.user.id,
            )
        ).first()
        if others is None:
            raise InvalidParameterError(
                "id",
                f"Invalid parameter id: user {record.user.uuid} is the last user of account "
                f"{record.account.account_name}; delete the account instead",
            )
        _remove_user(session, record.user, clock())


def register_keys(db: Database, caller: Caller, uuid: str, box: SecretBox) -> ApiKeys:
    """registerUserKeys: a fresh pair for a user the caller manages (or themselves)."""
    with db.transaction() as session:
        record = managed_user(session, caller, uuid, "registerUserKeys")
        return new_pair(box, record.user)


def user_keys(db: Database, caller: Caller, uuid: str, box: SecretBox) -> ApiKeys | None:
    """getUserKeys: a user's pair, for themselves or an admin over them (None: no keys)."""
    with db.transaction() as session:
        record = managed_user(session, caller, uuid, "getUserKeys")
        secret = secret_key_of(box, record.user)
        if record.user.api_key is None or secret is None:
            return None
        return ApiKeys(record.user.username, record.user.api_key, secret)


def _managed_account(
    session: Session, caller: Caller, ref: AccountRef, command: str
) -> tuple[Account, Domain]:
    _check_manager(caller, command)
    if ref.uuid:
        account = get_by_uuid(session, Account, ref.uuid, command=command, param="id")
        domain = session.get_one(Domain, account.domain_id)
    elif ref.name:
        domain = (
            domain_of(session, caller, ref.domain_uuid, command=command)
            if ref.domain_uuid
            else session.get_one(Domain, caller.domain_id)
        )
        found = live_account(session, domain.id, ref.name)
        if found is None:
            raise InvalidParameterError(
                "account", f"Unable to find account {ref.name} in domain {domain.uuid}"
            )
        account = found
    else:
        raise InvalidParameterError(
            "id", "Either id or account and domainid must be passed to identify the account"
        )
    check_domain_access(caller, domain.path, domain.uuid)
    check_rank(caller, account.type, account.account_name, account.uuid)
    return account, domain


def _check_manager(caller: Caller, command: str) -> None:
    if not caller.is_admin and caller.account_type != AccountType.DOMAIN_ADMIN:
        raise PermissionDeniedError(f"The command {command} is available to administrators only")


def _scoped(
    session: Session,
    caller: Caller,
    query: S,
    wanted: PersonFilter,
    *,
    command: str,
) -> S:
    """Join the domain and keep the rows list_scope lets the caller see."""
    scope = scope_of(
        session,
        caller,
        wanted.owners,
        command=command,
        by_id=wanted.uuid is not None,
        own_account_by_default=command == "listAccounts",
    )
    query = query.join(Domain, Account.domain_id == Domain.id).where(Account.removed.is_(None))
    if scope.account_id is not None:
        query = query.where(Account.id == scope.account_id)
    if scope.subtree:
        query = query.where(Domain.path.startswith(scope.domain_path))
    elif scope.account_id is None:
        query = query.where(Domain.path == scope.domain_path)
    if wanted.uuid and command == "listAccounts":
        query = query.where(Account.uuid == wanted.uuid)
    if wanted.state and command == "listAccounts":
        query = query.where(Account.state == wanted.state.lower())
    if wanted.account_type is not None:
        query = query.where(Account.type == wanted.account_type)
    return query


def _paged_pairs(session: Session, query: S, window: PageWindow) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.execute(query.offset(window.offset).limit(window.limit))), total


def _check_free_username(session: Session, domain: Domain, username: str) -> None:
    taken = session.scalars(
        select(User.id)
        .join(Account, User.account_id == Account.id)
        .where(Account.domain_id == domain.id, User.username == username, User.removed.is_(None))
    ).first()
    if taken is not None:
        raise InvalidParameterError(
            "username", f"The user {username} already exists in domain {domain.uuid}"
        )


def _check_current_password(caller: Caller, user: User, change: PasswordChange) -> None:
    # CloudStack: admins (root and domain) set passwords outright; a plain user changing
    # their own must prove the current one, so a stolen session cannot take the account.
    if caller.is_admin or caller.account_type == AccountType.DOMAIN_ADMIN:
        return
    if not change.current:
        raise InvalidParameterError(
            "currentpassword", "To set a new password the current password must be provided."
        )
    if not verify_password(change.current, user.password):
        raise InvalidParameterError("currentpassword", "Current password is incorrect.")


def _new_user(session: Session, account: Account, new: NewUser, now: datetime) -> User:
    user = User(
        uuid=new_uuid(),
        username=new.username,
        account_id=account.id,
        first_name=new.first_name,
        last_name=new.last_name,
        email=new.email,
        created=now,
    )
    if new.password is not None:
        set_password(user, new.password)
    session.add(user)
    session.flush()
    return user


def _remove_user(session: Session, user: User, now: datetime) -> None:
    # Keys, password and sessions go at once: a removed user's requests fail authentication.
    user.removed, user.state, user.api_key, user.secret_key = now, "removed", None, None
    user.password = None
    end_sessions(session, user)


def _is_default(account: Account, domain: Domain) -> bool:
    return account.account_name == ADMIN_NAME and domain.parent_id is None


def _user_record(
    session: Session, caller: Caller, user: User, account: Account, domain: Domain
) -> UserRecord:
    return _record_for(session, caller.domain_path, user, account, domain)


def _record_for(
    session: Session, viewer_path: str, user: User, account: Account, domain: Domain
) -> UserRecord:
    return UserRecord(
        user,
        account,
        domain,
        session.get_one(Role, account.role_id),
        is_caller_child_domain=in_subtree(domain.path, viewer_path) and domain.path != viewer_path,
        is_default=_is_default(account, domain) and user.username == ADMIN_NAME,
    )
