"""Direct-download certificate commands: upload, revoke, list, provision (root admin only)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kvmcloud.server.api.params import ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult, without_none
from kvmcloud.server.certificates import service
from kvmcloud.server.certificates.models import CertificateHostStatus, DirectDownloadCertificate
from kvmcloud.server.certificates.parsing import (
    HYPERVISOR_KVM,
    check_alias,
    check_hypervisor,
    fingerprint_of,
    parse_certificate,
    validity_text,
)
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.infrastructure.models import Host, Zone
from kvmcloud.server.queries import get_by_uuid, list_window, paged

commands = CommandSet()
CERTIFICATE_KEY = "directdownloadcertificate"
HOST_STATUS_KEY = "directdownloadcertificatehoststatus"
UPLOAD_KEY = "uploadtemplatedirectdownloadcertificate"


# --- responses ------------------------------------------------------------------------------


def host_status_response(
    host_uuid: str, host_name: str, status: CertificateHostStatus, details: str | None
) -> dict[str, Any]:
    """Map one host's state to CloudStack's directdownloadcertificatehoststatus."""
    return without_none(
        {"hostid": host_uuid, "hostname": host_name, "status": status, "details": details}
    )


def _outcome_responses(outcomes: Sequence[service.Outcome]) -> list[dict[str, Any]]:
    return [
        host_status_response(o.push.host_uuid, o.push.host_name, o.status, o.details)
        for o in outcomes
    ]


def certificate_response(
    certificate: DirectDownloadCertificate,
    zone: Zone,
    hostsmap: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """Map a certificate to CloudStack's directdownloadcertificate object."""
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
            "hostsmap": hostsmap,
        }
    )


def _stored_hostsmap(session: Session, certificate_id: int) -> list[dict[str, Any]]:
    return [
        host_status_response(host.uuid, host.name, row.status, row.details)
        for row, host in service.host_mappings(session, certificate_id)
    ]


def _zone_of(session: Session, certificate: DirectDownloadCertificate) -> Zone:
    zone = session.get(Zone, certificate.zone_id)
    assert zone is not None
    return zone


def _kvm_host_in_zone(host: Host, zone: Zone, param_name: str = "hostid") -> Host:
    if host.hypervisor_type != HYPERVISOR_KVM:
        raise InvalidParameterError(param_name, f"Host {host.name} is not a KVM host")
    if host.data_center_id != zone.id:
        raise InvalidParameterError(
            param_name, f"Host {host.name} is not in zone {zone.name} of the certificate"
        )
    return host


# --- upload -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadCertificateParams:
    """Parameters of uploadTemplateDirectDownloadCertificate."""

    certificate: str = param(
        "SSL certificate: PEM, or the base64 of the DER without the BEGIN/END lines",
        length=65535,
    )
    name: str = param("Name (alias) for the uploaded certificate")
    hypervisor: str = param("Hypervisor type: KVM")
    zone_id: Uuid = param("Zone to upload the certificate to")
    host_id: Uuid | None = param(
        "(optional) upload the zone's certificate of this name to this host only; the "
        "certificate given must be the one stored",
        default=None,
    )


@commands.command(
    "uploadTemplateDirectDownloadCertificate",
    UploadCertificateParams,
    description="Upload a certificate for HTTPS direct template download on KVM hosts",
    response_key=UPLOAD_KEY,
    admin_only=True,
    since="4.11.0",
)
def upload_certificate(ctx: ApiContext, params: UploadCertificateParams) -> ObjectResult:
    """Store a certificate for a zone and push it to its hosts (or push it to one host)."""
    alias = check_alias(params.name)
    check_hypervisor(params.hypervisor)
    if params.host_id is not None:
        return _upload_to_host(ctx, params, alias, params.host_id)
    parsed = parse_certificate(params.certificate, ctx.clock())
    with ctx.db.transaction() as session:
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        certificate = service.create_certificate(session, zone, alias, parsed, ctx.clock())
        pushes = service.plan_zone_upload(session, certificate)
    # No transaction is open while the agents work.
    outcomes = service.push_all(ctx.agents, pushes)
    with ctx.db.transaction() as session:
        service.record(session, outcomes, ctx.clock())
        item = certificate_response(certificate, zone, _outcome_responses(outcomes))
    return ObjectResult(UPLOAD_KEY, item)


def _upload_to_host(
    ctx: ApiContext, params: UploadCertificateParams, alias: str, host_uuid: str
) -> ObjectResult:
    supplied = fingerprint_of(params.certificate)
    with ctx.db.transaction() as session:
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        host = get_by_uuid(session, Host, host_uuid, command=ctx.command, param="hostid")
        _kvm_host_in_zone(host, zone)
        certificate = service.find_by_alias(session, zone.id, alias)
        if certificate is None:
            raise InvalidParameterError(
                "name",
                f"Unable to upload certificate: there is no certificate {alias} in zone "
                f"{zone.name}; upload it to the zone first (without hostid)",
            )
        if supplied != certificate.fingerprint:
            raise InvalidParameterError(
                "certificate",
                f"Invalid parameter certificate: it differs from the certificate stored as "
                f"{alias} in zone {zone.name}; to rotate, upload the new one under a new alias "
                "and revoke the old one",
            )
        pushes = [service.plan_push(certificate, host)]
    outcomes = service.push_all(ctx.agents, pushes)
    with ctx.db.transaction() as session:
        service.record(session, outcomes, ctx.clock())
        item = certificate_response(certificate, zone, _outcome_responses(outcomes))
    return ObjectResult(UPLOAD_KEY, item)


# --- revoke -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeCertificateParams:
    """Parameters of revokeTemplateDirectDownloadCertificate."""

    zone_id: Uuid = param("Zone the certificate belongs to")
    id: Uuid | None = param("ID of the certificate (or give name and hypervisor)", default=None)
    name: str | None = param("Alias of the certificate (with hypervisor)", default=None)
    hypervisor: str | None = param("Hypervisor type: KVM", default=None)
    host_id: Uuid | None = param(
        "(optional) revoke the certificate on this host only", default=None
    )


@commands.command(
    "revokeTemplateDirectDownloadCertificate",
    RevokeCertificateParams,
    description="Revoke a direct download certificate from hosts in a zone",
    response_key=HOST_STATUS_KEY,
    admin_only=True,
    since="4.13.0",
)
def revoke_certificate(ctx: ApiContext, params: RevokeCertificateParams) -> ListResult:
    """Revoke a certificate on one host or every host it is on; report each host."""
    if params.hypervisor is not None:
        check_hypervisor(params.hypervisor)
    with ctx.db.transaction() as session:
        zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
        certificate = _certificate_to_revoke(ctx, session, params, zone)
        host = None
        if params.host_id is not None:
            host = get_by_uuid(session, Host, params.host_id, command=ctx.command, param="hostid")
        pushes = service.plan_revoke(session, certificate, host)
    outcomes = service.push_all(ctx.agents, pushes)
    with ctx.db.transaction() as session:
        service.record(session, outcomes, ctx.clock())
    items = _outcome_responses(outcomes)
    return ListResult(HOST_STATUS_KEY, items, len(items))


def _certificate_to_revoke(
    ctx: ApiContext, session: Session, params: RevokeCertificateParams, zone: Zone
) -> DirectDownloadCertificate:
    if params.id is not None:
        certificate = get_by_uuid(
            session, DirectDownloadCertificate, params.id, command=ctx.command, param="id"
        )
        if certificate.zone_id != zone.id:
            home = _zone_of(session, certificate)
            raise InvalidParameterError(
                "zoneid",
                f"Certificate {certificate.alias} belongs to zone {home.name}, "
                f"not to zone {zone.name} given as zoneid",
            )
        return certificate
    if not params.name or not params.hypervisor:
        raise InvalidParameterError("id", "Give the certificate's id, or its name and hypervisor")
    found = service.find_by_alias(session, zone.id, params.name)
    if found is None:
        raise InvalidParameterError(
            "name", f"There is no certificate {params.name} in zone {zone.name}"
        )
    return found


# --- list ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListCertificatesParams(ListParams):
    """Parameters of listTemplateDirectDownloadCertificates."""

    id: Uuid | None = param("the direct download certificate to list", default=None)
    zone_id: Uuid | None = param("the zone where certificates are uploaded", default=None)
    list_hosts: bool | None = param(
        "if true: include the hosts' state of each certificate (hostsmap)", default=None
    )


@commands.command(
    "listTemplateDirectDownloadCertificates",
    ListCertificatesParams,
    description="List the uploaded certificates for direct download templates",
    response_key=CERTIFICATE_KEY,
    admin_only=True,
    since="4.17.0",
)
def list_certificates(ctx: ApiContext, params: ListCertificatesParams) -> ListResult:
    """List certificates; with listhosts=true each host's real state from its last push."""
    with ctx.db.transaction() as session:
        query = select(DirectDownloadCertificate).order_by(DirectDownloadCertificate.id)
        if params.zone_id:
            zone = get_by_uuid(session, Zone, params.zone_id, command=ctx.command, param="zoneid")
            query = query.where(DirectDownloadCertificate.zone_id == zone.id)
        if params.id:
            query = query.where(DirectDownloadCertificate.uuid == params.id)
        if params.keyword:
            query = query.where(DirectDownloadCertificate.alias.contains(params.keyword))
        window = list_window(session, params)
        rows, total = paged(session, query, window)
        items = [
            certificate_response(
                c,
                _zone_of(session, c),
                _stored_hostsmap(session, c.id) if params.list_hosts else None,
            )
            for c in rows
        ]
        return ListResult(CERTIFICATE_KEY, items, total)


# --- provision ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvisionCertificateParams:
    """Parameters of provisionTemplateDirectDownloadCertificate."""

    id: Uuid = param("the id of the direct download certificate to provision")
    host_id: Uuid = param("the host to provision the certificate to (in its zone)")


@commands.command(
    "provisionTemplateDirectDownloadCertificate",
    ProvisionCertificateParams,
    description="Provisions a host with a direct download certificate",
    response_key=HOST_STATUS_KEY,
    admin_only=True,
    since="4.17.0",
)
def provision_certificate(ctx: ApiContext, params: ProvisionCertificateParams) -> ObjectResult:
    """Push a certificate to one host of its zone again (after a revoke, or a failure)."""
    with ctx.db.transaction() as session:
        certificate = get_by_uuid(
            session, DirectDownloadCertificate, params.id, command=ctx.command, param="id"
        )
        host = get_by_uuid(session, Host, params.host_id, command=ctx.command, param="hostid")
        _kvm_host_in_zone(host, _zone_of(session, certificate))
        pushes = [service.plan_push(certificate, host)]
    outcomes = service.push_all(ctx.agents, pushes)
    with ctx.db.transaction() as session:
        service.record(session, outcomes, ctx.clock())
    return ObjectResult(HOST_STATUS_KEY, _outcome_responses(outcomes)[0])
