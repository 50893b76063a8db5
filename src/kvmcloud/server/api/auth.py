"""API key lookup, signature and expiry checks (signing itself is protocol.api_signing)."""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from kvmcloud.protocol.api_signing import is_valid_signature, parse_expires
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.accounts.service import KeyHolder, find_key_holder, grant_of, secret_key_of
from kvmcloud.server.errors import AuthenticationError
from kvmcloud.server.sealing.box import SecretBox


def authenticate(
    session: Session, params: Mapping[str, str], now: datetime, box: SecretBox
) -> Caller:
    """Resolve the caller from ``apiKey`` and check ``signature`` (and ``expires`` for v3).

    The user is found by the public api key; its secret key is opened from ``box`` only
    to check the signature.

    Raises:
        AuthenticationError: with CloudStack's generic text, whatever the reason, so a
            caller cannot probe which part was wrong.
    """
    special = {name.lower(): value for name, value in params.items()}
    api_key, signature = special.get("apikey"), special.get("signature")
    if not api_key or not signature:
        raise AuthenticationError()
    holder = find_key_holder(session, api_key)
    if holder is None:
        raise AuthenticationError()
    user, account = holder.user, holder.account
    if user.state != "enabled" or account.state != "enabled":
        raise AuthenticationError()
    secret_key = secret_key_of(box, user)
    if secret_key is None or not is_valid_signature(params, secret_key, signature):
        raise AuthenticationError()
    if special.get("signatureversion") == "3":
        expires = parse_expires(special.get("expires", ""))
        if expires is None or expires <= now:
            raise AuthenticationError()
    return caller_of(session, holder)


def caller_of(session: Session, holder: KeyHolder, *, session_id: int | None = None) -> Caller:
    """The Caller a user is, by key or (``session_id`` given) by login session."""
    user, account, domain = holder.user, holder.account, holder.domain
    return Caller(
        user_id=user.id,
        account_id=account.id,
        account_uuid=account.uuid,
        account_name=account.account_name,
        domain_uuid=domain.uuid,
        is_admin=account.type == AccountType.ADMIN,
        domain_id=domain.id,
        domain_path=domain.path,
        account_type=account.type,
        session_id=session_id,
        grant=grant_of(session, account),
    )
