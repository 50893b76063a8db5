"""Session tokens, their stored hashes and the idle/absolute expiry rules (pure)."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kvmcloud.server.accounts.throttle import LoginLimits

# 32 random bytes each: the session id (JSESSIONID cookie) and the sessionkey (CSRF token).
TOKEN_BYTES = 32
# A token longer than this is not one of ours: refused before it is hashed or looked up.
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """A new session's two secrets, handed to the client once; only their hashes are kept."""

    session_id: str = field(repr=False)
    session_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """The settings sessions and logins follow (read from the global settings per request)."""

    idle_s: int
    absolute_s: int
    limits: LoginLimits


def new_tokens() -> SessionTokens:
    """Two independent random tokens: one for the cookie, one for the sessionkey."""
    return SessionTokens(secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES))


def token_hash(token: str) -> str:
    """The stored form of a token: SHA-256 hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_matches(session_key: str, stored_hash: str) -> bool:
    """Constant-time check of a sessionkey against its stored hash."""
    return hmac.compare_digest(token_hash(session_key), stored_hash)


def is_plausible_token(token: str | None) -> bool:
    """Tell whether ``token`` may be one of ours (non-empty, bounded)."""
    return bool(token) and len(token or "") <= MAX_TOKEN_CHARS


def is_expired(
    *, created: datetime, last_seen: datetime, now: datetime, idle_s: int, absolute_s: int
) -> bool:
    """Tell whether a session has ended (idle since last use, or too long since login)."""
    if now - last_seen >= timedelta(seconds=idle_s):
        return True
    return now - created >= timedelta(seconds=absolute_s)


def expiry_cutoffs(now: datetime, *, idle_s: int, absolute_s: int) -> tuple[datetime, datetime]:
    """(last use before, created before): sessions matching either are expired."""
    return now - timedelta(seconds=idle_s), now - timedelta(seconds=absolute_s)


def domain_path(given: str | None) -> str:
    """CloudStack's login ``domain``: a path, ``/`` (ROOT) when absent, slashes added."""
    path = (given or "").strip() or "/"
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return path
