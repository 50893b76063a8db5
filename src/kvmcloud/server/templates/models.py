"""Template (vm_template) and its details, zone, store and pool references; guest OS types."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class ImageFormat(StrEnum):
    """Image formats kvmcloud accepts for KVM (CloudStack spelling)."""

    QCOW2 = "QCOW2"
    RAW = "RAW"
    ISO = "ISO"


class DownloadState(StrEnum):
    """CloudStack's download_state values for store and pool references."""

    NOT_DOWNLOADED = "NOT_DOWNLOADED"
    DOWNLOAD_IN_PROGRESS = "DOWNLOAD_IN_PROGRESS"
    DOWNLOADED = "DOWNLOADED"
    DOWNLOAD_ERROR = "DOWNLOAD_ERROR"
    BYPASSED = "BYPASSED"


class RefState(StrEnum):
    """CloudStack's object-in-store state for store and pool references."""

    ALLOCATED = "Allocated"
    CREATING = "Creating"
    READY = "Ready"
    DESTROYED = "Destroyed"


class GuestOsCategory(Base):
    """A family of guest operating systems (CloudStack guest_os_category)."""

    __tablename__ = "guest_os_category"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)


class GuestOs(Base):
    """An OS type a template declares (CloudStack guest_os; the API calls it ostype)."""

    __tablename__ = "guest_os"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    category_id: Mapped[int] = mapped_column(ForeignKey("guest_os_category.id"))
    display_name: Mapped[str] = mapped_column(String(255), unique=True)
    is_user_defined: Mapped[bool] = mapped_column(Boolean, default=False)


class Template(Base):
    """A registered template or ISO (CloudStack vm_template; ISOs have format ISO)."""

    __tablename__ = "vm_template"
    # listTemplates/listIsos: a page walks these in its order (sort key, id) and stops at
    # the page's end instead of sorting every match; its count reads them, not the table.
    # The owner's serves templatefilter=self.
    __table_args__ = (
        Index("ix_vm_template_listing", "sort_key", "id", "removed", "format"),
        Index("ix_vm_template_owner_listing", "account_id", "sort_key", "id", "removed", "format"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    unique_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str | None] = mapped_column(String(4096))
    format: Mapped[ImageFormat] = mapped_column(StrEnumType(ImageFormat))
    type: Mapped[str] = mapped_column(String(32), default="USER")
    hypervisor_type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    # Stored normalised as {ALGORITHM}lowerhex, the form the agent verifies against.
    checksum: Mapped[str | None] = mapped_column(String(255))
    direct_download: Mapped[bool] = mapped_column(Boolean, default=False)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    extractable: Mapped[bool] = mapped_column(Boolean, default=False)
    bootable: Mapped[bool] = mapped_column(Boolean, default=True)
    requires_hvm: Mapped[bool] = mapped_column(Boolean, default=True)
    enable_password: Mapped[bool] = mapped_column(Boolean, default=False)
    sshkey_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    dynamically_scalable: Mapped[bool] = mapped_column(Boolean, default=False)
    cross_zones: Mapped[bool] = mapped_column(Boolean, default=False)
    bits: Mapped[int] = mapped_column(Integer, default=64)
    # updateTemplate's sortkey: listings order by it first, as CloudStack's do.
    sort_key: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    template_tag: Mapped[str | None] = mapped_column(String(255))
    guest_os_id: Mapped[int] = mapped_column(ForeignKey("guest_os.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    # Virtual size (what a VM sees); physical size is what the URL serves.
    size: Mapped[int | None] = mapped_column(BigInteger)
    physical_size: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(32), default="Active")
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TemplateDetail(Base):
    """A key/value detail of a template; HTTP_HEADER:<Name> details become request headers."""

    __tablename__ = "vm_template_details"
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("vm_template.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    # HTTP_HEADER values are stored sealed (sealing.box), a third longer than the plaintext.
    value: Mapped[str] = mapped_column(String(4096))
    display: Mapped[bool] = mapped_column(Boolean, default=True)


class TemplateZoneRef(Base):
    """The zones a template is registered in (CloudStack template_zone_ref)."""

    __tablename__ = "template_zone_ref"
    __table_args__ = (
        UniqueConstraint("template_id", "zone_id"),
        # Covers the list pages' join (live registrations of a template, their zone).
        Index("ix_template_zone_ref_listing", "template_id", "removed", "zone_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id", ondelete="CASCADE"))
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    removed: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TemplateStoreRef(Base):
    """A template on an image store; direct download writes one BYPASSED row with no store."""

    __tablename__ = "template_store_ref"
    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int | None] = mapped_column(Integer)
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id", ondelete="CASCADE"))
    store_role: Mapped[str] = mapped_column(String(255), default="Image")
    download_state: Mapped[DownloadState] = mapped_column(StrEnumType(DownloadState, 255))
    download_pct: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[RefState] = mapped_column(StrEnumType(RefState, 255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    physical_size: Mapped[int] = mapped_column(BigInteger, default=0)
    error_str: Mapped[str | None] = mapped_column(String(255))
    local_path: Mapped[str | None] = mapped_column(String(255))
    install_path: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(2048))
    destroyed: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    last_updated: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TemplatePoolRef(Base):
    """A template's copy on a primary storage pool (CloudStack table template_spool_ref).

    Unlike CloudStack, (pool_id, template_id) is really unique: CloudStack's unique index
    includes a deployment_option that is always NULL, so MySQL let duplicates in.
    """

    __tablename__ = "template_spool_ref"
    __table_args__ = (UniqueConstraint("pool_id", "template_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("storage_pool.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(40))
    download_pct: Mapped[int] = mapped_column(Integer, default=0)
    download_state: Mapped[DownloadState] = mapped_column(StrEnumType(DownloadState, 255))
    state: Mapped[RefState] = mapped_column(StrEnumType(RefState, 255))
    error_str: Mapped[str | None] = mapped_column(String(1024))
    local_path: Mapped[str | None] = mapped_column(String(255))
    install_path: Mapped[str | None] = mapped_column(String(255))
    # CloudStack's template_size is the virtual size; physical_size is bytes on the pool.
    template_size: Mapped[int] = mapped_column(BigInteger, default=0)
    physical_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # The host that downloaded the copy now on the pool: set when it is Ready, cleared when
    # a new download starts (the host of an attempt under way is download_host_id).
    host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"))
    marked_for_gc: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    # While a download runs, the time downloaded_bytes was written (the rate is measured
    # from download_started to it).
    last_updated: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The latest download's current (or last) attempt, kvmcloud only: the host asked, when
    # it was asked, the source's bytes it received and the size the source announced.
    download_host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"))
    download_started: Mapped[datetime | None] = mapped_column(UtcDateTime())
    downloaded_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # How many hosts the latest download asked, and a JSON list of the failed attempts
    # ({"hostid", "hostname", "reason"}; bounded by download_status.with_failure).
    download_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    download_failures: Mapped[str | None] = mapped_column(Text)
    # The verified digest of the file on the pool, when it is the origin's bytes as they
    # are (not decompressed): only such a copy may serve peers (peer_sources.py).
    image_checksum: Mapped[str | None] = mapped_column(String(255))
    # JSON list of where the latest download's bytes came from ({"kind", "hostid",
    # "hostname", "bytes", "outcome", "message"}; download_status.byte_sources).
    download_sources: Mapped[str | None] = mapped_column(Text)


class LaunchPermission(Base):
    """An account another account shared a private template or ISO with (launch_permission)."""

    __tablename__ = "launch_permission"
    __table_args__ = (UniqueConstraint("template_id", "account_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("vm_template.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
