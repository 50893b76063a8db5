"""UserSession and LoginFailure tables: login sessions and recent failed logins (shared)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, UtcDateTime


class UserSession(Base):
    """A login session; only SHA-256 hashes of its id (cookie) and sessionkey are kept."""

    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    # Deleting a user ends their sessions.
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class LoginFailure(Base):
    """One failed login, counted against a user name or a source address for a while."""

    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(primary_key=True)
    # accounts.throttle's user_subject / address_subject.
    subject: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
