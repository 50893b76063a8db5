"""ServiceOffering and DiskOffering tables (CloudStack service_offering, disk_offering)."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, UtcDateTime, new_uuid


class ServiceOffering(Base):
    """CPU, speed and memory for a VM, and the kind of storage its root disk uses."""

    __tablename__ = "service_offering"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str] = mapped_column(String(4096))
    cpu: Mapped[int] = mapped_column(Integer)
    speed: Mapped[int] = mapped_column(Integer)
    ram_size: Mapped[int] = mapped_column(Integer)
    storage_type: Mapped[str] = mapped_column(String(16), default="shared")
    # Storage tags: every one must be on the pool of the root disk (CloudStack's ``tags``).
    tags: Mapped[str | None] = mapped_column(String(4096))
    # Host tags: every one must be on the host the VM runs on (CloudStack's ``host_tag``).
    host_tags: Mapped[str | None] = mapped_column(String(4096))
    sort_key: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ha_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    limit_cpu_use: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DiskOffering(Base):
    """A disk size for blank root disks (ISO deploys) and data disks (CloudStack disk_offering)."""

    __tablename__ = "disk_offering"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str] = mapped_column(String(4096))
    disk_size: Mapped[int] = mapped_column(BigInteger)
    storage_type: Mapped[str] = mapped_column(String(16), default="shared")
    tags: Mapped[str | None] = mapped_column(String(4096))
    sort_key: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())
