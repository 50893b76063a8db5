"""Event table (CloudStack's event): type, level, state, description, who, which resource."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class EventLevel(StrEnum):
    """listEvents' level values."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class EventState(StrEnum):
    """listEvents' state values."""

    CREATED = "Created"
    SCHEDULED = "Scheduled"
    STARTED = "Started"
    COMPLETED = "Completed"


class Event(Base):
    """One thing that happened, as listEvents shows it."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_type_created", "type", "created"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    type: Mapped[str] = mapped_column(String(64))
    state: Mapped[EventState] = mapped_column(StrEnumType(EventState, 16))
    level: Mapped[EventLevel] = mapped_column(StrEnumType(EventLevel, 16))
    description: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), index=True)
    resource_type: Mapped[str | None] = mapped_column(String(32))
    resource_uuid: Mapped[str | None] = mapped_column(String(40))
    # The event that started this one (CloudStack's start_id, listEvents' parentid).
    start_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
