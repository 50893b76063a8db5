"""ConfigurationValue table (CloudStack's configuration): one row per setting name."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, UtcDateTime


class ConfigurationValue(Base):
    """The current value of one global setting; its definition lives in definitions.py."""

    __tablename__ = "configuration"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(8191))
    category: Mapped[str] = mapped_column(String(255))
    component: Mapped[str] = mapped_column(String(255), default="management-server")
    description: Mapped[str | None] = mapped_column(String(1024))
    default_value: Mapped[str | None] = mapped_column(String(8191))
    scope: Mapped[str] = mapped_column(String(255), default="Global")
    is_dynamic: Mapped[bool] = mapped_column(default=True)
    updated: Mapped[datetime | None] = mapped_column(UtcDateTime())
