"""Caller: who is calling, resolved from the API key (pure)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: resolved from the API key."""

    user_id: int
    account_id: int
    account_uuid: str
    account_name: str
    domain_uuid: str
    is_admin: bool
