"""ConfigurationValue table (CloudStack's configuration): one row per setting name."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
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


class ZoneConfigurationValue(Base):
    """A zone's own value of a zone-scoped setting (CloudStack: data_center_details).

    No row: the zone takes the global value. The zone table is named, not imported: zones
    live in the infrastructure feature, which builds on this one.
    """

    __tablename__ = "zone_configuration"
    zone_id: Mapped[int] = mapped_column(
        ForeignKey("data_center.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(8191))
    updated: Mapped[datetime | None] = mapped_column(UtcDateTime())
