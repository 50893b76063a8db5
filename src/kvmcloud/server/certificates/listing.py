"""The certificate list use case: one page, with zones and hosts maps loaded in batches."""

from dataclasses import dataclass

from sqlalchemy import select

from kvmcloud.server.certificates.models import DirectDownloadCertificate
from kvmcloud.server.certificates.records import CertificateRecord, certificate_records
from kvmcloud.server.db import Database
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.paging import PageRequest
from kvmcloud.server.queries import get_by_uuid, list_window, paged


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFilter:
    """Which certificates to list, and whether to show each host's state (hostsmap)."""

    uuid: str | None = None
    zone_uuid: str | None = None
    keyword: str | None = None
    with_hosts: bool = False


def list_certificates(
    db: Database, where: CertificateFilter, page: PageRequest, *, command: str
) -> tuple[list[CertificateRecord], int]:
    """Return one page of certificates and the count of every match.

    With ``with_hosts`` each record carries each host's real state from its last push.
    """
    with db.transaction() as session:
        query = select(DirectDownloadCertificate).order_by(DirectDownloadCertificate.id)
        if where.zone_uuid:
            zone = get_by_uuid(session, Zone, where.zone_uuid, command=command, param="zoneid")
            query = query.where(DirectDownloadCertificate.zone_id == zone.id)
        if where.uuid:
            query = query.where(DirectDownloadCertificate.uuid == where.uuid)
        if where.keyword:
            query = query.where(DirectDownloadCertificate.alias.contains(where.keyword))
        rows, total = paged(session, query, list_window(session, page))
        return certificate_records(session, rows, with_hosts=where.with_hosts), total
