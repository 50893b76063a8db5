"""What template responses are built from: a template with the related rows they show."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.infrastructure.models import Host, StoragePool, Zone
from kvmcloud.server.templates.models import (
    GuestOs,
    GuestOsCategory,
    Template,
    TemplateDetail,
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


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRecord:
    """A template in one zone with its owner, OS type, details and copies on the zone's pools."""

    template: Template
    zone: Zone
    account: Account | None
    domain: Domain | None
    guest_os: GuestOs | None
    # In the order they were written.
    details: Sequence[TemplateDetail]
    # Oldest first.
    copies: Sequence[PoolCopy]


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
