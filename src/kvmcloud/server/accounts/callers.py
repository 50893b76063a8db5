"""Caller: who is calling, resolved from the API key or the login session (pure)."""

from dataclasses import dataclass

from kvmcloud.server.accounts.models import AccountType, RoleType
from kvmcloud.server.accounts.permissions import Grant

# A caller built without a role (tests of pure rules) calls as the default User role.
_USER_GRANT = Grant(RoleType.USER)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: resolved from the API key or the login session.

    ``is_admin`` means root admin (the only kind of admin most commands know); a domain
    admin has ``account_type`` DOMAIN_ADMIN and sees the subtree under ``domain_path``.
    """

    user_id: int
    account_id: int
    account_uuid: str
    account_name: str
    domain_uuid: str
    is_admin: bool
    domain_id: int = 0
    domain_path: str = "/"
    account_type: AccountType = AccountType.USER
    # The login session's row when the request came by session; None by API key.
    session_id: int | None = None
    # What the account's role lets it call (accounts.permissions.may_call).
    grant: Grant = _USER_GRANT
