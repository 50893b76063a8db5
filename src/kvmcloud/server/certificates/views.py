"""CloudStack's directdownloadcertificate and host status objects, from records (pure)."""

from collections.abc import Iterable
from typing import Any

from kvmcloud.server.api.responses import without_none
from kvmcloud.server.certificates.parsing import validity_text
from kvmcloud.server.certificates.records import CertificateRecord, HostState


def host_status_response(state: HostState) -> dict[str, Any]:
    """Map one host's state to CloudStack's directdownloadcertificatehoststatus."""
    return without_none(
        {
            "hostid": state.host_uuid,
            "hostname": state.host_name,
            "status": state.status,
            "details": state.details,
        }
    )


def host_status_responses(states: Iterable[HostState]) -> list[dict[str, Any]]:
    """Map each host's state, in order."""
    return [host_status_response(state) for state in states]


def certificate_response(record: CertificateRecord) -> dict[str, Any]:
    """Map a certificate to CloudStack's directdownloadcertificate object."""
    certificate, zone = record.certificate, record.zone
    return without_none(
        {
            "id": certificate.uuid,
            "alias": certificate.alias,
            "zoneid": zone.uuid,
            "zonename": zone.name,
            "version": str(certificate.version),
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "validity": validity_text(certificate.not_before, certificate.not_after),
            "serialnum": certificate.serial,
            "hypervisor": certificate.hypervisor_type,
            "hostsmap": None if record.hosts is None else host_status_responses(record.hosts),
        }
    )
