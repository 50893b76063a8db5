"""CloudStack's directdownloadcertificate and host status objects, from records (pure)."""

from collections.abc import Iterable
from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.certificates.parsing import validity_text
from kvmcloud.server.certificates.records import CertificateRecord, HostState

HOST_STATUS = ObjectSchema(
    "DirectDownloadCertificateHostStatusResponse",
    (
        out("hostid", FieldType.STRING, "The ID of the host"),
        out("hostname", FieldType.STRING, "The name of the host"),
        out(
            "status",
            FieldType.STRING,
            "Indicates if the certificate has been revoked from the host, failed or skipped",
        ),
        out(
            "details",
            FieldType.STRING,
            "Indicates the details in case of failure or host skipped",
        ),
    ),
)


def host_status_response(state: HostState) -> dict[str, Any]:
    """Map one host's state to CloudStack's directdownloadcertificatehoststatus."""
    return HOST_STATUS.render(
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


CERTIFICATE = ObjectSchema(
    "DirectDownloadCertificateResponse",
    (
        out("id", FieldType.STRING, "the direct download certificate id"),
        out("alias", FieldType.STRING, "the direct download certificate alias"),
        out("zoneid", FieldType.STRING, "the zone id where the certificate is uploaded"),
        out("zonename", FieldType.STRING, "the zone name where the certificate is uploaded"),
        out("version", FieldType.STRING, "the direct download certificate version"),
        out("subject", FieldType.STRING, "the direct download certificate subject"),
        out("issuer", FieldType.STRING, "the direct download certificate issuer"),
        # CloudStack's own text for validity repeats the issuer's; this says what it is.
        out("validity", FieldType.STRING, "the direct download certificate validity period"),
        out("serialnum", FieldType.STRING, "the direct download certificate serial num"),
        out(
            "hypervisor",
            FieldType.STRING,
            "the hypervisor of the hosts where the certificate is uploaded",
        ),
        out(
            "hostsmap",
            FieldType.LIST,
            "the hosts where the certificate is uploaded to",
            nested=HOST_STATUS,
        ),
    ),
    entity=Entity.CERTIFICATE,
)


def certificate_response(record: CertificateRecord) -> dict[str, Any]:
    """Map a certificate to CloudStack's directdownloadcertificate object."""
    certificate, zone = record.certificate, record.zone
    return CERTIFICATE.render(
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
