"""Records: a certificate with its zone and hosts map, and one host's state of a certificate."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.certificates.models import (
    CertificateHostMap,
    CertificateHostStatus,
    DirectDownloadCertificate,
)
from kvmcloud.server.infrastructure.models import Host, Zone
from kvmcloud.server.queries import rows_by_id


@dataclass(frozen=True, slots=True)
class HostState:
    """A certificate's state on one host: the last push's outcome, or its stored row."""

    host_uuid: str
    host_name: str
    status: CertificateHostStatus
    details: str | None


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """A certificate, its zone and, when asked for, its state on each host."""

    certificate: DirectDownloadCertificate
    zone: Zone
    hosts: list[HostState] | None


def certificate_records(
    session: Session, certificates: Sequence[DirectDownloadCertificate], *, with_hosts: bool
) -> list[CertificateRecord]:
    """Build the records of a page of certificates, loading zones and host rows in batches."""
    zones = rows_by_id(session, Zone, (c.zone_id for c in certificates))
    hosts = stored_host_states(session, [c.id for c in certificates]) if with_hosts else {}
    return [
        CertificateRecord(
            certificate=c,
            zone=zones[c.zone_id],
            hosts=hosts.get(c.id, []) if with_hosts else None,
        )
        for c in certificates
    ]


def host_mappings(
    session: Session, certificate_ids: Sequence[int]
) -> list[tuple[CertificateHostMap, Host]]:
    """Every live host's row for the certificates, by host id."""
    if not certificate_ids:
        return []
    return list(
        session.execute(
            select(CertificateHostMap, Host)
            .join(Host, Host.id == CertificateHostMap.host_id)
            .where(CertificateHostMap.certificate_id.in_(certificate_ids), Host.removed.is_(None))
            .order_by(Host.id)
        )
    )


def stored_host_states(
    session: Session, certificate_ids: Sequence[int]
) -> dict[int, list[HostState]]:
    """Each certificate's rows on live hosts, by host id, keyed by certificate id."""
    states: dict[int, list[HostState]] = {}
    for row, host in host_mappings(session, certificate_ids):
        states.setdefault(row.certificate_id, []).append(
            HostState(host.uuid, host.name, row.status, row.details)
        )
    return states
