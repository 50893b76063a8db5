"""Bootstrap the ROOT domain and admin account; mint API key pairs; find a key's holder.

An account's role is read here too: its grant is what the dispatcher checks commands
against (accounts.permissions).

Secret keys are stored sealed (sealing.box) and bound to their user's uuid; the api key
stays in clear, as it is public and is how a request finds its user.
"""

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from kvmcloud.server.accounts.models import (
    Account,
    AccountType,
    Domain,
    Role,
    RolePermission,
    User,
)
from kvmcloud.server.accounts.passwords import generate_password, hash_password
from kvmcloud.server.accounts.permissions import Grant, RuleEntry
from kvmcloud.server.accounts.roles import ROOT_ADMIN_ROLE, role_of
from kvmcloud.server.db import new_uuid
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.sealing.box import SecretBox, user_secret_context

ADMIN_NAME = "admin"


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """A user's key pair for signing requests."""

    username: str
    api_key: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """The user an API key belongs to, with its account and domain."""

    user: User
    account: Account
    domain: Domain


def find_key_holder(session: Session, api_key: str) -> KeyHolder | None:
    """Return who holds ``api_key``, or None when nobody does."""
    return find_holder(session, User.api_key == api_key)


def find_holder(session: Session, *where: ColumnElement[bool]) -> KeyHolder | None:
    """The first user matching ``where`` (on user, account, domain), with account and domain."""
    row = session.execute(
        select(User, Account, Domain)
        .join(Account, User.account_id == Account.id)
        .join(Domain, Account.domain_id == Domain.id)
        .where(*where)
    ).first()
    return None if row is None else KeyHolder(*row)


def grant_of(session: Session, account: Account) -> Grant:
    """What the account's role lets it call."""
    return role_grant(session, session.get_one(Role, account.role_id))


def role_grant(session: Session, role: Role) -> Grant:
    """What a role lets its accounts call: a default role by the catalog, a custom one by rules."""
    if role.is_default:
        return Grant(role.role_type, root=role.uuid == ROOT_ADMIN_ROLE.uuid)
    rules = session.scalars(
        select(RolePermission)
        .where(RolePermission.role_id == role.id)
        .order_by(RolePermission.sort_order, RolePermission.id)
    )
    return Grant(role.role_type, tuple(RuleEntry(r.rule, r.permission) for r in rules))


def secret_key_of(box: SecretBox, user: User) -> str | None:
    """Open a user's sealed secret key (None when the user has no key pair).

    Raises:
        SealedValueError: the stored value does not open with the loaded key file.
    """
    if not user.secret_key:
        return None
    return box.open(user.secret_key, user_secret_context(user.uuid))


def new_pair(box: SecretBox, user: User) -> ApiKeys:
    """Give ``user`` (whose uuid is set) a fresh key pair; store the secret sealed."""
    api_key, secret_key = _new_key(), _new_key()
    user.api_key, user.secret_key = api_key, box.seal(secret_key, user_secret_context(user.uuid))
    return ApiKeys(user.username, api_key, secret_key)


def _new_key() -> str:
    # CloudStack keys are 86 URL-safe base64 characters (64 random bytes).
    return secrets.token_urlsafe(64)


def ensure_admin(session: Session, now: datetime, box: SecretBox) -> ApiKeys:
    """Create the ROOT domain and the admin account/user if missing; return the admin's keys."""
    domain = session.scalars(select(Domain).where(Domain.path == "/")).first()
    if domain is None:
        domain = Domain(name="ROOT", path="/")
        session.add(domain)
        session.flush()
    # Names are unique per domain only: the admin is ROOT's account "admin".
    account = session.scalars(
        select(Account).where(
            Account.account_name == ADMIN_NAME,
            Account.domain_id == domain.id,
            Account.removed.is_(None),
        )
    ).first()
    if account is None:
        account = Account(
            account_name=ADMIN_NAME,
            type=AccountType.ADMIN,
            role_id=ROOT_ADMIN_ROLE.id,
            domain_id=domain.id,
            created=now,
        )
        session.add(account)
        session.flush()
    user = session.scalars(
        select(User).where(User.username == ADMIN_NAME, User.account_id == account.id)
    ).first()
    if user is None:
        user = User(uuid=new_uuid(), username=ADMIN_NAME, account_id=account.id, created=now)
        session.add(user)
    secret_key = secret_key_of(box, user)
    if not user.api_key or secret_key is None:
        keys = new_pair(box, user)
    else:
        keys = ApiKeys(ADMIN_NAME, user.api_key, secret_key)
    session.flush()
    return keys


def set_password(user: User, password: str) -> None:
    """Store a fresh salted hash of ``password`` for ``user``; the clear text is not kept."""
    user.password = hash_password(password)


def ensure_admin_password(session: Session, password: str | None) -> str | None:
    """Set the admin's password; return it only when it was generated here.

    A given ``password`` replaces the admin's; without one, a password is generated only
    while the admin has none, so ``init`` prints it once and never again.
    """
    user = _live_user(session, ADMIN_NAME, "/")
    if user is None:
        raise LookupError(f"no user named {ADMIN_NAME!r} in ROOT")
    if password is not None:
        set_password(user, password)
        return None
    if user.password:
        return None
    generated = generate_password()
    set_password(user, generated)
    return generated


def regenerate_keys(
    session: Session, username: str, box: SecretBox, domain_path: str = "/"
) -> ApiKeys:
    """Replace the key pair of a live user of a domain; the old pair stops working at once.

    Raises:
        InvalidParameterError: the domain has no live user of that name.
    """
    user = _live_user(session, username, domain_path)
    if user is None:
        raise InvalidParameterError(
            "user", f"Unable to find user {username} in domain {_shown(domain_path)}"
        )
    return new_pair(box, user)


def _live_user(session: Session, username: str, domain_path: str) -> User | None:
    # Names repeat across domains, so a user is found by name within one domain.
    return session.scalars(
        select(User)
        .join(Account, User.account_id == Account.id)
        .join(Domain, Account.domain_id == Domain.id)
        .where(User.username == username, User.removed.is_(None), Domain.path == domain_path)
    ).first()


def _shown(domain_path: str) -> str:
    # Paths as CloudStack shows them: ROOT, ROOT/a/b.
    return "ROOT" + domain_path.rstrip("/")


def create_user_account(
    session: Session, name: str, now: datetime, box: SecretBox, domain_path: str = "/"
) -> ApiKeys:
    """Create a plain (non-admin) account with one user and keys in a domain.

    Raises:
        InvalidParameterError: no such domain, or the name is taken there.
    """
    domain = session.scalars(
        select(Domain).where(Domain.path == domain_path, Domain.removed.is_(None))
    ).first()
    if domain is None:
        raise InvalidParameterError("domain", f"Unable to find domain {_shown(domain_path)}")
    taken = session.scalars(
        select(Account.id).where(
            Account.domain_id == domain.id,
            Account.account_name == name,
            Account.removed.is_(None),
        )
    ).first()
    if taken is not None or _live_user(session, name, domain_path) is not None:
        raise InvalidParameterError(
            "account",
            f"The specified account: {name} already exists in domain {_shown(domain_path)}",
        )
    account = Account(
        account_name=name,
        type=AccountType.USER,
        role_id=role_of(AccountType.USER).id,
        domain_id=domain.id,
        created=now,
    )
    session.add(account)
    session.flush()
    user = User(uuid=new_uuid(), username=name, account_id=account.id, created=now)
    keys = new_pair(box, user)
    session.add(user)
    session.flush()
    return keys
