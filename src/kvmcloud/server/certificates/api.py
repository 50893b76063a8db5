"""Direct-download certificate commands: upload, revoke, list, provision (root admin only)."""

from dataclasses import dataclass

from kvmcloud.server.api.params import Entity, ListParams, Uuid, param
from kvmcloud.server.api.registry import ApiContext, CommandSet
from kvmcloud.server.api.responses import ListResult, ObjectResult
from kvmcloud.server.certificates import listing, service
from kvmcloud.server.certificates.parsing import check_alias, check_hypervisor
from kvmcloud.server.certificates.views import (
    CERTIFICATE,
    HOST_STATUS,
    certificate_response,
    host_status_response,
    host_status_responses,
)

commands = CommandSet()
CERTIFICATE_KEY = "directdownloadcertificate"
HOST_STATUS_KEY = "directdownloadcertificatehoststatus"
UPLOAD_KEY = "uploadtemplatedirectdownloadcertificate"


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
    response=CERTIFICATE,
    since="4.11.0",
)
def upload_certificate(ctx: ApiContext, params: UploadCertificateParams) -> ObjectResult:
    """Store a certificate for a zone and push it to its hosts (or push it to one host)."""
    alias = check_alias(params.name)
    check_hypervisor(params.hypervisor)
    request = service.UploadRequest(
        certificate=params.certificate,
        alias=alias,
        zone_uuid=params.zone_id,
        host_uuid=params.host_id,
    )
    record = service.upload_certificate(ctx.db, ctx.agents, ctx.clock, request, command=ctx.command)
    return ObjectResult(UPLOAD_KEY, certificate_response(record))


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
    response=HOST_STATUS,
    since="4.13.0",
)
def revoke_certificate(ctx: ApiContext, params: RevokeCertificateParams) -> ListResult:
    """Revoke a certificate on one host or every host it is on; report each host."""
    if params.hypervisor is not None:
        check_hypervisor(params.hypervisor)
    request = service.RevokeRequest(
        zone_uuid=params.zone_id,
        certificate_uuid=params.id,
        alias=params.name,
        hypervisor=params.hypervisor,
        host_uuid=params.host_id,
    )
    states = service.revoke_certificate(ctx.db, ctx.agents, ctx.clock, request, command=ctx.command)
    items = host_status_responses(states)
    return ListResult(HOST_STATUS_KEY, items, len(items))


# --- list ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ListCertificatesParams(ListParams):
    """Parameters of listTemplateDirectDownloadCertificates."""

    id: Uuid | None = param(
        "the direct download certificate to list", entity=Entity.CERTIFICATE, default=None
    )
    zone_id: Uuid | None = param(
        "the zone where certificates are uploaded", entity=Entity.ZONE, default=None
    )
    list_hosts: bool | None = param(
        "if true: include the hosts' state of each certificate (hostsmap)", default=None
    )


@commands.command(
    "listTemplateDirectDownloadCertificates",
    ListCertificatesParams,
    description="List the uploaded certificates for direct download templates",
    response_key=CERTIFICATE_KEY,
    response=CERTIFICATE,
    since="4.17.0",
)
def list_certificates(ctx: ApiContext, params: ListCertificatesParams) -> ListResult:
    """List certificates; with listhosts=true each host's real state from its last push."""
    where = listing.CertificateFilter(
        uuid=params.id,
        zone_uuid=params.zone_id,
        keyword=params.keyword,
        with_hosts=bool(params.list_hosts),
    )
    records, total = listing.list_certificates(ctx.db, where, params, command=ctx.command)
    return ListResult(CERTIFICATE_KEY, [certificate_response(r) for r in records], total)


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
    response=HOST_STATUS,
    since="4.17.0",
)
def provision_certificate(ctx: ApiContext, params: ProvisionCertificateParams) -> ObjectResult:
    """Push a certificate to one host of its zone again (after a revoke, or a failure)."""
    state = service.provision_certificate(
        ctx.db,
        ctx.agents,
        ctx.clock,
        certificate_uuid=params.id,
        host_uuid=params.host_id,
        command=ctx.command,
    )
    return ObjectResult(HOST_STATUS_KEY, host_status_response(state))
