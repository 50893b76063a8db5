"""DomainRecord, AccountRecord, UserRecord: rows with what their CloudStack responses show."""

from dataclasses import dataclass, field

from kvmcloud.server.accounts.models import Account, Domain, Role, User


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """A domain with what its response shows of its parent and children."""

    domain: Domain
    parent: Domain | None
    has_child: bool


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user with its account and domain, as seen by one caller."""

    user: User
    account: Account
    domain: Domain
    role: Role
    is_caller_child_domain: bool
    is_default: bool


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """An account with its domain, its role, its live users and what it owns."""

    account: Account
    domain: Domain
    role: Role
    is_default: bool
    template_total: int = 0
    vm_total: int = 0
    users: list[UserRecord] = field(default_factory=list)
