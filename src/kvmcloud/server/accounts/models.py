"""Domain, Account, User, Role and RolePermission tables (CloudStack's names, role singular)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid

# Names are unique among live rows only: a removed account's name may be used again, as in
# CloudStack (which checks in code; here a partial unique index also holds under races).
_LIVE = text("removed IS NULL")


class AccountType(StrEnum):
    """CloudStack account types as stored (0 = user, 1 = root admin, 2 = domain admin)."""

    USER = "0"
    ADMIN = "1"
    DOMAIN_ADMIN = "2"


class DomainState(StrEnum):
    """CloudStack's Domain.State: a domain being deleted is Inactive (nothing new goes in)."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"


class RoleType(StrEnum):
    """CloudStack's RoleType names (its masks: Admin 1, ResourceAdmin 2, DomainAdmin 4, User 8)."""

    ADMIN = "Admin"
    RESOURCE_ADMIN = "ResourceAdmin"
    DOMAIN_ADMIN = "DomainAdmin"
    USER = "User"


class Permission(StrEnum):
    """What a role rule does to the commands it matches; stored and shown in lower case."""

    ALLOW = "allow"
    DENY = "deny"


class Domain(Base):
    """A domain of the tree under ROOT: path ``/`` for ROOT, ``/a/b/`` below it."""

    __tablename__ = "domain"
    __table_args__ = (
        Index(
            "ix_domain_live_path", "path", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"))
    level: Mapped[int] = mapped_column(Integer, default=0)
    network_domain: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[DomainState] = mapped_column(
        StrEnumType(DomainState, 16), default=DomainState.ACTIVE, server_default="Active"
    )
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Account(Base):
    """An account owning templates and jobs; its name is unique among its domain's live ones."""

    __tablename__ = "account"
    __table_args__ = (
        Index(
            "ix_account_live_name",
            "domain_id",
            "account_name",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    account_name: Mapped[str] = mapped_column(String(100))
    type: Mapped[AccountType] = mapped_column(StrEnumType(AccountType, 8))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    # Its role's type always gives its account type (accounts.roles.account_type_of).
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id"), index=True)
    # enabled, disabled or locked; once deleted, removing (``removed`` is set at once, as
    # in CloudStack) while a job takes its VMs, templates and ISOs away, then removed.
    state: Mapped[str] = mapped_column(String(16), default="enabled")
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Role(Base):
    """A role: CloudStack's four defaults (ids 1-4, fixed uuids) and custom ones.

    A live name is unique whatever the type; a deleted role keeps its row (``removed``).
    """

    __tablename__ = "role"
    __table_args__ = (
        Index("ix_role_live_name", "name", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    role_type: Mapped[RoleType] = mapped_column(StrEnumType(RoleType, 16))
    description: Mapped[str | None] = mapped_column(String(255))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RolePermission(Base):
    """One rule of a custom role (CloudStack's role_permissions): first match in order wins."""

    __tablename__ = "role_permission"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    role_id: Mapped[int] = mapped_column(ForeignKey("role.id"), index=True)
    # A command name or a wildcard such as list* (accounts.permissions.is_valid_rule).
    rule: Mapped[str] = mapped_column(String(255))
    permission: Mapped[Permission] = mapped_column(StrEnumType(Permission, 8))
    description: Mapped[str | None] = mapped_column(String(255))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A user of an account; holds the API key pair used to sign requests.

    The username is unique among the live users of the account's domain; the service
    checks it in the creating transaction (the domain is on the account, not here).
    """

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    username: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    api_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Stored sealed (sealing.box, bound to the user's uuid); api_key stays clear for lookup.
    secret_key: Mapped[str | None] = mapped_column(String(255))
    # A PBKDF2-SHA256 hash (accounts.passwords); None: the user cannot log in by password.
    password: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="enabled")
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())
