"""Direct-download certificates and where each one is (direct_download_certificate*)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kvmcloud.server.db import Base, StrEnumType, UtcDateTime, new_uuid


class CertificateHostStatus(StrEnum):
    """The outcome of the last push to a host, as the host status object shows it."""

    UPLOADED = "UPLOADED"
    FAILED = "FAILED"
    REVOKED = "REVOKED"


class DirectDownloadCertificate(Base):
    """A certificate the hosts of a zone trust for HTTPS sources, under an alias.

    Unlike CloudStack, (alias, hypervisor_type, zone_id) is unique in the schema, not only
    in code.
    """

    __tablename__ = "direct_download_certificate"
    __table_args__ = (UniqueConstraint("alias", "hypervisor_type", "zone_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, default=new_uuid)
    alias: Mapped[str] = mapped_column(String(255))
    # The certificate as canonical PEM (one CERTIFICATE block, nothing else).
    certificate: Mapped[str] = mapped_column(Text)
    hypervisor_type: Mapped[str] = mapped_column(String(45))
    zone_id: Mapped[int] = mapped_column(
        ForeignKey("data_center.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(4096))
    issuer: Mapped[str] = mapped_column(String(4096))
    # Decimal: serial numbers reach 160 bits.
    serial: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    # SHA-256 of the DER, lower-case hex: what agents report in their heartbeats.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UtcDateTime())


class CertificateHostMap(Base):
    """One certificate on one host: what the operator wants and what the host last said.

    ``revoked`` is the operator's intent (CloudStack's column); ``status`` is the real
    outcome of the last push or revoke, with ``details`` saying why when it FAILED. A row
    is written for failed pushes too, but never claims UPLOADED for one (CloudStack did).
    """

    __tablename__ = "direct_download_certificate_host_map"
    __table_args__ = (UniqueConstraint("certificate_id", "host_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("direct_download_certificate.id", ondelete="CASCADE")
    )
    host_id: Mapped[int] = mapped_column(ForeignKey("host.id", ondelete="CASCADE"), index=True)
    status: Mapped[CertificateHostStatus] = mapped_column(StrEnumType(CertificateHostStatus, 16))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[str | None] = mapped_column(String(1024))
    updated: Mapped[datetime] = mapped_column(UtcDateTime())
