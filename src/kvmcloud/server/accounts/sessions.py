"""Password login, session lookup and logout: sessions and failed logins live in the database."""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from kvmcloud.server.accounts.models import Domain, User
from kvmcloud.server.accounts.passwords import (
    MAX_PASSWORD_CHARS,
    dummy_verify,
    hash_password,
    needs_rehash,
    verify_password,
)
from kvmcloud.server.accounts.service import KeyHolder, find_holder
from kvmcloud.server.accounts.session_models import LoginFailure, UserSession
from kvmcloud.server.accounts.session_rules import (
    SessionPolicy,
    SessionTokens,
    domain_path,
    expiry_cutoffs,
    is_expired,
    is_plausible_token,
    key_matches,
    new_tokens,
    token_hash,
)
from kvmcloud.server.accounts.throttle import (
    address_subject,
    is_throttled,
    user_subject,
)
from kvmcloud.server.errors import AuthenticationError, PermissionDeniedError

logger = logging.getLogger(__name__)

# CloudStack's text for every refused login: it never says which part was wrong.
LOGIN_REFUSED_TEXT = "failed to authenticate user, check if username/password are correct"
MAX_USERNAME_CHARS = 255


class LoginRefusedError(PermissionDeniedError):
    """A login was refused (531); ``failed`` are the subjects the failure counts against."""

    def __init__(self, failed: tuple[str, ...] = ()) -> None:
        super().__init__(LOGIN_REFUSED_TEXT)
        self.failed = failed


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a login request gives: a user name, a password and a domain (path or uuid)."""

    username: str
    password: str = field(repr=False)
    domain: str | None = None
    domain_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """A new session: who logged in, its two tokens, and its idle timeout."""

    holder: KeyHolder
    tokens: SessionTokens
    idle_s: int


def login(
    session: Session,
    credentials: Credentials,
    *,
    address: str | None,
    now: datetime,
    policy: SessionPolicy,
) -> LoggedIn:
    """Check the credentials and open a session.

    Raises:
        LoginRefusedError: unknown user or domain, wrong password, user or account not
            enabled, or too many recent failures for the user name or the address; the
            caller records ``failed`` in a transaction of its own (this one rolls back).
    """
    limits = policy.limits
    path = domain_path(credentials.domain)
    subjects: tuple[str, ...] = (user_subject(credentials.username),)
    if address:
        subjects += (address_subject(address),)
    session.execute(delete(LoginFailure).where(LoginFailure.at < limits.since(now)))
    for subject, limit in zip(subjects, (limits.per_user, limits.per_address), strict=False):
        failures = session.scalars(select(LoginFailure.at).where(LoginFailure.subject == subject))
        if is_throttled(list(failures), now, limits.window_s, limit):
            # The kind only: a user name field sometimes holds a mistyped password.
            logger.warning("login refused: too many recent failures (%s)", subject.split(":")[0])
            raise LoginRefusedError()
    holder = _find_user(session, credentials, path)
    password = credentials.password
    if holder is None:
        dummy_verify(password)
        raise LoginRefusedError(subjects)
    if not verify_password(password, holder.user.password) or not _enabled(holder):
        raise LoginRefusedError(subjects)
    user = holder.user
    if user.password and needs_rehash(user.password):
        user.password = hash_password(password)
    session.execute(delete(LoginFailure).where(LoginFailure.subject == subjects[0]))
    idle_s, absolute_s = policy.idle_s, policy.absolute_s
    idle_before, created_before = expiry_cutoffs(now, idle_s=idle_s, absolute_s=absolute_s)
    session.execute(
        delete(UserSession).where(
            or_(UserSession.last_seen <= idle_before, UserSession.created <= created_before)
        )
    )
    tokens = new_tokens()
    session.add(
        UserSession(
            id_hash=token_hash(tokens.session_id),
            key_hash=token_hash(tokens.session_key),
            user_id=user.id,
            created=now,
            last_seen=now,
        )
    )
    session.flush()
    return LoggedIn(holder, tokens, idle_s)


def record_failures(session: Session, subjects: tuple[str, ...], now: datetime) -> None:
    """Count a failed login against each subject."""
    session.add_all(LoginFailure(subject=subject, at=now) for subject in subjects)


def session_holder(
    session: Session,
    session_id: str | None,
    session_key: str | None,
    *,
    now: datetime,
    policy: SessionPolicy,
) -> tuple[KeyHolder, int]:
    """Who a session belongs to, and its row id, given its cookie and sessionkey; marks it used.

    Raises:
        AuthenticationError: either token is missing or wrong, the session has expired or
            was logged out, or the user or account is no longer enabled.
    """
    if not is_plausible_token(session_id) or not is_plausible_token(session_key):
        raise AuthenticationError()
    assert session_id is not None and session_key is not None
    row = session.scalars(
        select(UserSession).where(UserSession.id_hash == token_hash(session_id))
    ).first()
    if row is None or not key_matches(session_key, row.key_hash):
        raise AuthenticationError()
    if is_expired(
        created=row.created,
        last_seen=row.last_seen,
        now=now,
        idle_s=policy.idle_s,
        absolute_s=policy.absolute_s,
    ):
        raise AuthenticationError()
    holder = find_holder(session, User.id == row.user_id)
    if holder is None or not _enabled(holder):
        raise AuthenticationError()
    row.last_seen = max(row.last_seen, now)
    return holder, row.id


def logout(session: Session, session_id: str | None) -> KeyHolder | None:
    """End the session the cookie names, if any; return whose it was (None: no session)."""
    if not is_plausible_token(session_id):
        return None
    assert session_id is not None
    row = session.scalars(
        select(UserSession).where(UserSession.id_hash == token_hash(session_id))
    ).first()
    if row is None:
        return None
    session.delete(row)
    return find_holder(session, User.id == row.user_id)


def end_sessions(session: Session, user: User, *, keep: int | None = None) -> None:
    """End every session of ``user`` but ``keep`` (after a password change, say)."""
    ended = delete(UserSession).where(UserSession.user_id == user.id)
    if keep is not None:
        ended = ended.where(UserSession.id != keep)
    session.execute(ended)


def _find_user(session: Session, credentials: Credentials, path: str) -> KeyHolder | None:
    name = credentials.username
    if not name or len(name) > MAX_USERNAME_CHARS or len(credentials.password) > MAX_PASSWORD_CHARS:
        return None
    in_domain = (
        Domain.uuid == credentials.domain_uuid if credentials.domain_uuid else Domain.path == path
    )
    return find_holder(session, User.username == name, in_domain)


def _enabled(holder: KeyHolder) -> bool:
    return holder.user.state == "enabled" and holder.account.state == "enabled"
