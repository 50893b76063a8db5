"""NetworkOffering and Network tables (CloudStack network_offerings, networks)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class GuestType(StrEnum):
    """CloudStack's guest IP types of a network and its offering."""

    L2 = "L2"
    SHARED = "Shared"
    ISOLATED = "Isolated"


class OfferingState(StrEnum):
    """Whether new networks may use an offering."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"


class NetworkOffering(Base):
    """What a guest network of this offering is: its guest type and settings."""

    __tablename__ = "network_offerings"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(64))
    # CloudStack's unique_name: what its own code finds the default offerings by.
    unique_name: Mapped[str | None] = mapped_column(String(64))
    display_text: Mapped[str] = mapped_column(String(255))
    traffic_type: Mapped[str] = mapped_column(String(32), default="Guest")
    guest_type: Mapped[GuestType] = mapped_column(StrEnumType(GuestType, length=32))
    state: Mapped[OfferingState] = mapped_column(StrEnumType(OfferingState, length=32))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    availability: Mapped[str] = mapped_column(String(255), default="Optional")
    specify_vlan: Mapped[bool] = mapped_column(Boolean, default=False)
    specify_ip_ranges: Mapped[bool] = mapped_column(Boolean, default=False)
    conserve_mode: Mapped[bool] = mapped_column(Boolean, default=True)
    is_persistent: Mapped[bool] = mapped_column(Boolean, default=False)
    egress_default_policy: Mapped[bool] = mapped_column(Boolean, default=True)
    for_vpc: Mapped[bool] = mapped_column(Boolean, default=False)
    network_rate: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[str | None] = mapped_column(String(4096))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Network(Base):
    """A guest network of an account in a zone (a record: nothing is set up on hosts yet)."""

    __tablename__ = "networks"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str] = mapped_column(String(255))
    traffic_type: Mapped[str] = mapped_column(String(32), default="Guest")
    guest_type: Mapped[GuestType] = mapped_column(StrEnumType(GuestType, length=32))
    network_offering_id: Mapped[int] = mapped_column(ForeignKey("network_offerings.id"), index=True)
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    physical_network_id: Mapped[int] = mapped_column(ForeignKey("physical_network.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    acl_type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    gateway: Mapped[str | None] = mapped_column(String(64))
    cidr: Mapped[str | None] = mapped_column(String(64))
    broadcast_domain_type: Mapped[str] = mapped_column(String(32))
    network_domain: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())
