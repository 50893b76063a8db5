"""Bootstrap the ROOT domain and admin account; mint API key pairs; find a key's holder."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.models import Account, AccountType, Domain, User

ADMIN_NAME = "admin"


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """A user's key pair for signing requests."""

    username: str
    api_key: str
    secret_key: str


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """The user an API key belongs to, with its account and domain."""

    user: User
    account: Account
    domain: Domain


def find_key_holder(session: Session, api_key: str) -> KeyHolder | None:
    """Return who holds ``api_key``, or None when nobody does."""
    row = session.execute(
        select(User, Account, Domain)
        .join(Account, User.account_id == Account.id)
        .join(Domain, Account.domain_id == Domain.id)
        .where(User.api_key == api_key)
    ).first()
    return None if row is None else KeyHolder(*row)


def _new_key() -> str:
    # CloudStack keys are 86 URL-safe base64 characters (64 random bytes).
    return secrets.token_urlsafe(64)


def ensure_admin(session: Session, now: datetime) -> ApiKeys:
    """Create the ROOT domain and the admin account/user if missing; return the admin's keys."""
    domain = session.scalars(select(Domain).where(Domain.path == "/")).first()
    if domain is None:
        domain = Domain(name="ROOT", path="/")
        session.add(domain)
        session.flush()
    account = session.scalars(select(Account).where(Account.account_name == ADMIN_NAME)).first()
    if account is None:
        account = Account(
            account_name=ADMIN_NAME, type=AccountType.ADMIN, domain_id=domain.id, created=now
        )
        session.add(account)
        session.flush()
    user = session.scalars(select(User).where(User.username == ADMIN_NAME)).first()
    if user is None:
        user = User(username=ADMIN_NAME, account_id=account.id, created=now)
        session.add(user)
    if not user.api_key or not user.secret_key:
        user.api_key, user.secret_key = _new_key(), _new_key()
    session.flush()
    return ApiKeys(ADMIN_NAME, user.api_key, user.secret_key)


def regenerate_keys(session: Session, username: str) -> ApiKeys:
    """Replace a user's key pair; the old pair stops working at once."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise LookupError(f"no user named {username!r}")
    user.api_key, user.secret_key = _new_key(), _new_key()
    return ApiKeys(username, user.api_key, user.secret_key)


def create_user_account(session: Session, name: str, now: datetime) -> ApiKeys:
    """Create a plain (non-admin) account with one user and keys."""
    domain = session.scalars(select(Domain).where(Domain.path == "/")).one()
    account = Account(account_name=name, type=AccountType.USER, domain_id=domain.id, created=now)
    session.add(account)
    session.flush()
    user = User(
        username=name, account_id=account.id, api_key=_new_key(), secret_key=_new_key(), created=now
    )
    session.add(user)
    session.flush()
    assert user.api_key is not None and user.secret_key is not None
    return ApiKeys(name, user.api_key, user.secret_key)
