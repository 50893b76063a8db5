"""Domain, Account and User tables (CloudStack's domain, account, user)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class AccountType(StrEnum):
    """CloudStack account types as stored (1 = root admin, 0 = user)."""

    USER = "0"
    ADMIN = "1"


class Domain(Base):
    """A domain; kvmcloud has the ROOT domain only, for now."""

    __tablename__ = "domain"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(255), unique=True)


class Account(Base):
    """An account owning templates and jobs."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    account_name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[AccountType] = mapped_column(StrEnumType(AccountType, 8))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    state: Mapped[str] = mapped_column(String(16), default="enabled")
    created: Mapped[datetime] = mapped_column(UtcDateTime())


class User(Base):
    """A user of an account; holds the API key pair used to sign requests."""

    __tablename__ = "user"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    api_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Stored sealed (sealing.box, bound to the user's uuid); api_key stays clear for lookup.
    secret_key: Mapped[str | None] = mapped_column(String(255))
    # A PBKDF2-SHA256 hash (accounts.passwords); None: the user cannot log in by password.
    password: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="enabled")
    created: Mapped[datetime] = mapped_column(UtcDateTime())
