"""VirtualMachine (vm_instance), Volume (volumes) and Nic (nics) tables and their states."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class VmState(StrEnum):
    """CloudStack's VM states (listVirtualMachines ``state``)."""

    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DESTROYED = "Destroyed"
    EXPUNGING = "Expunging"
    ERROR = "Error"


class VolumeType(StrEnum):
    """A VM's root disk or an additional data disk."""

    ROOT = "ROOT"
    DATADISK = "DATADISK"


class VolumeState(StrEnum):
    """CloudStack's volume states: rows exist before their file does."""

    ALLOCATED = "Allocated"
    READY = "Ready"
    DESTROY = "Destroy"
    EXPUNGED = "Expunged"


class VirtualMachine(Base):
    """A user VM (CloudStack vm_instance); ``instance_name`` is its libvirt domain name."""

    __tablename__ = "vm_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    instance_name: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[VmState] = mapped_column(StrEnumType(VmState))
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"), index=True)
    last_host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id"), index=True)
    iso_id: Mapped[int | None] = mapped_column(ForeignKey("vm_template.id"), index=True)
    # The pool holding the inserted ISO's copy: the root disk's, unless that one cannot hold
    # ISOs (RBD). None while no ISO is in, or before the VM first starts with one.
    iso_pool_id: Mapped[int | None] = mapped_column(ForeignKey("storage_pool.id"), index=True)
    service_offering_id: Mapped[int] = mapped_column(ForeignKey("service_offering.id"))
    guest_os_id: Mapped[int] = mapped_column(ForeignKey("guest_os.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    accelerator: Mapped[str | None] = mapped_column(String(16))
    console_log: Mapped[str | None] = mapped_column(String(1024))
    # Consecutive heartbeats whose report disagreed with ``state``: one report may predate a
    # job's change, so the state is only synced from repeated, consistent reports.
    power_state_mismatches: Mapped[int] = mapped_column(Integer, default=0)
    # The last failure, shown in the job result and kept for operators.
    error_text: Mapped[str | None] = mapped_column(String(1024))
    ha_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Volume(Base):
    """A VM disk: a qcow2 file on a primary storage pool (CloudStack volumes)."""

    __tablename__ = "volumes"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("storage_pool.id"), index=True)
    volume_type: Mapped[VolumeType] = mapped_column(StrEnumType(VolumeType))
    device_id: Mapped[int] = mapped_column(Integer, default=0)
    # The file name inside the pool; the full path is the pool's path joined with it.
    path: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16), default="QCOW2")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    physical_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # The template whose pool copy backs this volume (None for blank disks).
    template_id: Mapped[int | None] = mapped_column(ForeignKey("vm_template.id"))
    disk_offering_id: Mapped[int | None] = mapped_column(ForeignKey("disk_offering.id"))
    state: Mapped[VolumeState] = mapped_column(StrEnumType(VolumeState))
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Nic(Base):
    """A VM's NIC: a MAC and an address from its guest network or the zone's range (nics).

    ``network_id`` None: the zone's guest range (a VM deployed without networkids). A NIC
    on an L2 network has no address.
    """

    __tablename__ = "nics"
    __table_args__ = (UniqueConstraint("data_center_id", "ip4_address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    data_center_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"))
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(17), unique=True)
    ip4_address: Mapped[str | None] = mapped_column(String(40))
    netmask: Mapped[str | None] = mapped_column(String(40))
    gateway: Mapped[str | None] = mapped_column(String(40))
    is_default: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
