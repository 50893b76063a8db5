"""What template responses are built from: a template with the related rows they show."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.templates.models import (
    DownloadState,
    GuestOs,
    GuestOsCategory,
    ImageFormat,
    Template,
    TemplatePoolRef,
)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class PoolCopy:
    """A template's copy on a pool, with the pool and the host of its latest attempt."""

    ref: TemplatePoolRef
    pool: StoragePool
    # The host downloading the copy, or that downloaded it or failed last (download_host_id).
    host: Host | None = None


class ShownTemplate(NamedTuple):
    """The columns of a template its responses show, read as plain rows for list pages.

    Named as Template's attributes: a page of 500 read this way costs a tuple per row
    instead of an ORM object's identity-map and attribute bookkeeping.
    """

    id: int
    uuid: str
    name: str
    display_text: str | None
    format: ImageFormat
    type: str
    hypervisor_type: str
    url: str
    checksum: str | None
    direct_download: bool
    public: bool
    featured: bool
    extractable: bool
    bootable: bool
    requires_hvm: bool
    enable_password: bool
    sshkey_enabled: bool
    dynamically_scalable: bool
    cross_zones: bool
    bits: int
    template_tag: str | None
    guest_os_id: int
    account_id: int
    size: int | None
    physical_size: int | None
    created: datetime
    removed: datetime | None


class ShownDetail(NamedTuple):
    """A template detail as responses show it (TemplateDetail's columns)."""

    template_id: int
    name: str
    value: str
    display: bool


class ShownCopy(NamedTuple):
    """A template's copy on a pool as downloaddetails shows it.

    TemplatePoolRef's columns, then its pool's, then those of the host of its latest
    attempt (download_host_id).
    """

    template_id: int
    job_id: str | None
    download_pct: int
    download_state: DownloadState
    error_str: str | None
    install_path: str | None
    download_started: datetime | None
    downloaded_bytes: int
    total_bytes: int | None
    last_updated: datetime | None
    download_attempts: int
    download_failures: str | None
    download_sources: str | None
    pool_name: str
    pool_uuid: str
    pool_zone_id: int
    host_uuid: str | None
    host_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRecord:
    """A template in one zone with its owner, OS type, details and copies on the zone's pools."""

    template: Template | ShownTemplate
    zone: Zone
    account: Account | None
    domain: Domain | None
    guest_os: GuestOs | None
    # In the order they were written.
    details: Sequence[ShownDetail]
    # Oldest first.
    copies: Sequence[ShownCopy]


@dataclass(frozen=True, slots=True)
class Registration:
    """A registered template in each of its zones, and how a Metalink's mirrors checked out."""

    records: Sequence[TemplateRecord]
    mirrors: Sequence[msg.MirrorCheck]


@dataclass(frozen=True, slots=True)
class Permissions:
    """A template's permissions as listTemplatePermissions shows them."""

    template: Template
    # The owner's domain: shown to admins only, as CloudStack does.
    domain: Domain | None
    account_names: Sequence[str]


@dataclass(frozen=True, slots=True)
class OsTypeRecord:
    """A guest OS type with its category."""

    guest_os: GuestOs
    category: GuestOsCategory


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a listing and the number of matches in all pages."""

    items: Sequence[R]
    total: int


# extractTemplate's only mode here (FTP_UPLOAD is refused).
HTTP_DOWNLOAD = "HTTP_DOWNLOAD"


@dataclass(frozen=True, slots=True)
class ExtractUrl:
    """The URL an extract job answers, and where its bytes come from."""

    template: Template
    account: Account | None
    zone: Zone | None
    url: str
    # The pool whose verified copy the signed URL serves; None: the registered URL.
    pool_name: str | None
    expires: datetime | None
    created: datetime
    # For the registered URL: whether, and from which host, it was checked to answer.
    checked: str | None = None
