"""API key lookup, signature and expiry checks (signing itself is protocol.api_signing)."""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.protocol.api_signing import is_valid_signature, parse_expires
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import Account, AccountType, Domain, User
from kvmcloud.server.errors import AuthenticationError


def authenticate(session: Session, params: Mapping[str, str], now: datetime) -> Caller:
    """Resolve the caller from ``apiKey`` and check ``signature`` (and ``expires`` for v3).

    Raises:
        AuthenticationError: with CloudStack's generic text, whatever the reason, so a
            caller cannot probe which part was wrong.
    """
    special = {name.lower(): value for name, value in params.items()}
    api_key, signature = special.get("apikey"), special.get("signature")
    if not api_key or not signature:
        raise AuthenticationError()
    row = session.execute(
        select(User, Account, Domain)
        .join(Account, User.account_id == Account.id)
        .join(Domain, Account.domain_id == Domain.id)
        .where(User.api_key == api_key)
    ).first()
    if row is None:
        raise AuthenticationError()
    user, account, domain = row
    if user.state != "enabled" or account.state != "enabled" or not user.secret_key:
        raise AuthenticationError()
    if not is_valid_signature(params, user.secret_key, signature):
        raise AuthenticationError()
    if special.get("signatureversion") == "3":
        expires = parse_expires(special.get("expires", ""))
        if expires is None or expires <= now:
            raise AuthenticationError()
    return Caller(
        user_id=user.id,
        account_id=account.id,
        account_uuid=account.uuid,
        account_name=account.account_name,
        domain_uuid=domain.uuid,
        is_admin=account.type == AccountType.ADMIN,
    )
