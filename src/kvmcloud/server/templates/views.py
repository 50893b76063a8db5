"""CloudStack response dicts for templates, ISOs, OS types and OS categories (pure)."""

from collections.abc import Sequence
from typing import Any

from kvmcloud.protocol.checksums import Checksum
from kvmcloud.protocol.redaction import redact_url
from kvmcloud.server.accounts.access import may_act_on
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import AccountType
from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.infrastructure.views import RESOURCE_TAG
from kvmcloud.server.templates.details import is_header_detail
from kvmcloud.server.templates.download_status import (
    FailedAttempt,
    bytes_by_kind,
    failed_attempts,
    recorded_sources,
    throughput,
)
from kvmcloud.server.templates.models import DownloadState, GuestOsCategory
from kvmcloud.server.templates.records import (
    HTTP_DOWNLOAD,
    ExtractUrl,
    OsTypeRecord,
    Permissions,
    Registration,
    ShownCopy,
    ShownDetail,
    TemplateRecord,
)

BYPASSED_STATUS = "Bypassed Secondary Storage"
# CloudStack's Upload.Status once an extract URL exists.
URL_CREATED = "DOWNLOAD_URL_CREATED"

FAILED_ATTEMPT = ObjectSchema(
    "TemplateDownloadFailure",
    (
        out(
            "hostid",
            FieldType.STRING,
            "kvmcloud: the ID of the host whose attempt failed (root admins only)",
        ),
        out(
            "hostname",
            FieldType.STRING,
            "kvmcloud: the name of the host whose attempt failed (root admins only; none when "
            "no host could be asked)",
        ),
        out("reason", FieldType.STRING, "kvmcloud: what the host answered, or why it could not"),
    ),
)

BYTE_SOURCE = ObjectSchema(
    "TemplateDownloadSource",
    (
        out(
            "kind",
            FieldType.STRING,
            "kvmcloud: origin (the registered URL) or peer (another host's verified copy)",
        ),
        out("hostid", FieldType.STRING, "kvmcloud: the peer host's ID (root admins only)"),
        out("hostname", FieldType.STRING, "kvmcloud: the peer host's name (root admins only)"),
        out("bytes", FieldType.LONG, "kvmcloud: the bytes this source sent"),
        out(
            "outcome",
            FieldType.STRING,
            "kvmcloud: used (its bytes are in the copy), failed (the transfer broke off; "
            "the next source continued), rejected (its bytes did not match the checksum "
            "and were thrown away) or discarded (it broke off and the next source had to "
            "start over)",
        ),
        out("message", FieldType.STRING, "kvmcloud: why the source failed or was rejected"),
    ),
)

DOWNLOAD_DETAILS = ObjectSchema(
    "TemplateDownloadDetails",
    (
        out("datastore", FieldType.STRING, "the name of the primary storage pool holding the copy"),
        out("datastoreid", FieldType.STRING, "the ID of the primary storage pool holding the copy"),
        out(
            "downloadPercent",
            FieldType.INTEGER,
            "the download progress of the copy (kvmcloud: a number; CloudStack: a string)",
        ),
        out("downloadState", FieldType.STRING, "the download state of the copy"),
        out("jobid", FieldType.STRING, "kvmcloud: the UUID of the job downloading the copy"),
        out("installpath", FieldType.STRING, "kvmcloud: the path of the copy on the pool"),
        out(
            "errortext",
            FieldType.STRING,
            "kvmcloud: why the copy's download failed (for others than root admins, the last "
            "attempt's reason, without the hosts tried)",
        ),
        out(
            "hostid",
            FieldType.STRING,
            "kvmcloud: the ID of the host downloading the copy, or that downloaded it, or "
            "whose attempt failed last (root admins only)",
        ),
        out("hostname", FieldType.STRING, "kvmcloud: the name of that host (root admins only)"),
        out(
            "downloadstarted",
            FieldType.DATE,
            "kvmcloud: when that host's attempt started",
        ),
        out(
            "downloadedbytes",
            FieldType.LONG,
            "kvmcloud: the bytes of the source that attempt received (compressed bytes for a "
            "compressed image)",
        ),
        out(
            "totalbytes",
            FieldType.LONG,
            "kvmcloud: the size of the source, once it is known (announced by the source, or "
            "what was received once the copy is Ready)",
        ),
        out(
            "downloadrate",
            FieldType.LONG,
            "kvmcloud: bytes per second received, averaged from the attempt's start to the "
            "last progress update; while downloading and once downloaded",
        ),
        out(
            "eta",
            FieldType.LONG,
            "kvmcloud: seconds the download should still take at that rate, from the last "
            "progress update; only while downloading and when the size is known",
        ),
        out(
            "attempts",
            FieldType.INTEGER,
            "kvmcloud: how many hosts the latest download has asked",
        ),
        out(
            "failures",
            FieldType.LIST,
            "kvmcloud: the latest download's failed attempts, oldest first",
            nested=FAILED_ATTEMPT,
        ),
        out(
            "originbytes",
            FieldType.LONG,
            "kvmcloud: bytes of the Ready copy that came from the origin (the registered URL)",
        ),
        out(
            "peerbytes",
            FieldType.LONG,
            "kvmcloud: bytes of the Ready copy that came from other hosts' verified copies",
        ),
        out(
            "sources",
            FieldType.LIST,
            "kvmcloud: where the latest download's bytes came from, in the order tried "
            "(downloads by agents that report it)",
            nested=BYTE_SOURCE,
        ),
    ),
)

MIRROR = ObjectSchema(
    "TemplateMirrorResponse",
    (
        out("url", FieldType.STRING, "kvmcloud: the mirror's URL, credentials masked"),
        out("ok", FieldType.BOOLEAN, "kvmcloud: true if the mirror served the image as expected"),
        out("errortext", FieldType.STRING, "kvmcloud: why the mirror failed its check"),
    ),
)

TEMPLATE = ObjectSchema(
    "TemplateResponse",
    (
        out("id", FieldType.STRING, "The Template ID"),
        out("name", FieldType.STRING, "The Template name"),
        out("displaytext", FieldType.STRING, "The Template display text"),
        out(
            "ispublic",
            FieldType.BOOLEAN,
            "True if this Template is a public Template, false otherwise",
        ),
        out(
            "isfeatured",
            FieldType.BOOLEAN,
            "True if this Template is a featured Template, false otherwise",
        ),
        out(
            "isready",
            FieldType.BOOLEAN,
            "True if the Template is ready to be deployed from, false otherwise.",
        ),
        out(
            "crossZones",
            FieldType.BOOLEAN,
            "True if the Template is managed across all Zones, false otherwise",
        ),
        out(
            "isextractable",
            FieldType.BOOLEAN,
            "True if the Template is extractable, false otherwise",
        ),
        out(
            "passwordenabled",
            FieldType.BOOLEAN,
            "True if the reset password feature is enabled, false otherwise",
        ),
        out(
            "sshkeyenabled",
            FieldType.BOOLEAN,
            "True if Template is sshkey enabled, false otherwise",
        ),
        out(
            "isdynamicallyscalable",
            FieldType.BOOLEAN,
            "True if Template contains XS/VMWare tools in order to support dynamic scaling of "
            "Instance CPU/memory",
        ),
        out(
            "requireshvm",
            FieldType.BOOLEAN,
            "True if Template requires HVM enabled, false otherwise",
        ),
        out(
            "directdownload",
            FieldType.BOOLEAN,
            "KVM Only: true if Template is directly downloaded to Primary Storage bypassing "
            "Secondary Storage",
        ),
        out(
            "deployasis",
            FieldType.BOOLEAN,
            "VMware only: true if Template is deployed without orchestrating disks and Networks "
            'but "as-is" defined in the Template.',
        ),
        out("bootable", FieldType.BOOLEAN, "True if the ISO is bootable, false otherwise"),
        out("format", FieldType.STRING, "The format of the Template."),
        out("hypervisor", FieldType.STRING, "The hypervisor on which the Template runs"),
        out("ostypeid", FieldType.STRING, "The ID of the OS type for this Template."),
        out("ostypename", FieldType.STRING, "The name of the OS type for this Template."),
        out("templatetype", FieldType.STRING, "The type of the Template"),
        out("status", FieldType.STRING, "The status of the Template"),
        out("url", FieldType.STRING, "The URL which the Template/ISO is registered from"),
        out("size", FieldType.LONG, "The size of the Template"),
        out("physicalsize", FieldType.LONG, "The physical size of the Template"),
        out("checksum", FieldType.STRING, "Checksum of the Template"),
        out("zoneid", FieldType.STRING, "The ID of the zone for this Template"),
        out("zonename", FieldType.STRING, "The name of the zone for this Template"),
        out("account", FieldType.STRING, "The Account name to which the Template belongs"),
        out("accountid", FieldType.STRING, "The Account id to which the Template belongs"),
        out("domain", FieldType.STRING, "The name of the domain to which the Template belongs"),
        out("domainid", FieldType.STRING, "The ID of the domain to which the Template belongs"),
        out("domainpath", FieldType.STRING, "Path of the Domain the template belongs to"),
        out("created", FieldType.DATE, "The date this Template was created"),
        out("removed", FieldType.DATE, "The date this Template was removed"),
        out("details", FieldType.MAP, "Additional key/value details tied with Template"),
        out(
            "downloaddetails",
            FieldType.LIST,
            "Lists the download progress of a Template across all secondary storages "
            "(kvmcloud: across the primary storage pools holding a copy)",
            nested=DOWNLOAD_DETAILS,
        ),
        out("bits", FieldType.INTEGER, "The processor bit size"),
        out("templatetag", FieldType.STRING, "The tag of this Template"),
        out(
            "tags",
            FieldType.SET,
            "the list of resource tags associated (kvmcloud: always empty)",
            nested=RESOURCE_TAG,
        ),
    ),
    entity=Entity.TEMPLATE,
)

# registerTemplate/registerIso answer a Metalink's mirror checks as well (kvmcloud only).
REGISTERED_TEMPLATE = TEMPLATE.extended(
    "TemplateResponse",
    out(
        "mirrors",
        FieldType.LIST,
        "kvmcloud: for a Metalink registration, how each mirror checked out",
        nested=MIRROR,
    ),
)


def template_response(
    record: TemplateRecord, *, show_private: bool = True, show_hosts: bool = False
) -> dict[str, Any]:
    """Map a template (in one zone) to CloudStack's template/iso object.

    ``show_private`` is for the template's owner and admins: the status, and the URL's
    query as registered (a presigned URL's signature). Others get the URL with its query
    values masked. A userinfo password is masked for everyone. ``show_hosts`` is for root
    admins: the hosts that downloaded or failed to download each copy.
    """
    template, zone, account, domain = record.template, record.zone, record.account, record.domain
    guest_os = record.guest_os
    checksum = Checksum.parse(template.checksum).hex_digest if template.checksum else None
    item = {
        "id": template.uuid,
        "name": template.name,
        "displaytext": template.display_text,
        "ispublic": template.public,
        "isfeatured": template.featured,
        "isready": True,
        "crossZones": template.cross_zones,
        "isextractable": template.extractable,
        "passwordenabled": template.enable_password,
        "sshkeyenabled": template.sshkey_enabled,
        "isdynamicallyscalable": template.dynamically_scalable,
        "requireshvm": template.requires_hvm,
        "directdownload": template.direct_download,
        "deployasis": False,
        "bootable": template.bootable,
        "format": template.format,
        "hypervisor": template.hypervisor_type,
        "ostypeid": guest_os.uuid if guest_os else None,
        "ostypename": guest_os.display_name if guest_os else None,
        "templatetype": template.type,
        "status": BYPASSED_STATUS if show_private else None,
        "url": redact_url(template.url, keep_query=show_private),
        "size": template.size if template.size else None,
        "physicalsize": template.physical_size if template.physical_size else None,
        "checksum": checksum,
        "zoneid": zone.uuid,
        "zonename": zone.name,
        "account": account.account_name if account else None,
        "accountid": account.uuid if account else None,
        "domain": domain.name if domain else None,
        "domainid": domain.uuid if domain else None,
        "domainpath": domain.path if domain else None,
        "created": format_date(template.created),
        "removed": format_date(template.removed),
        "details": redacted_details(record.details),
        "downloaddetails": [
            _download_details(copy, show_hosts=show_hosts) for copy in record.copies
        ],
        "bits": template.bits,
        "templatetag": template.template_tag,
        "tags": [],
    }
    return TEMPLATE.render(item)


def listed_template_response(record: TemplateRecord, caller: Caller) -> dict[str, Any]:
    """Map a listed template; its URL and status are shown to admins over its owner only.

    Host identities (downloaddetails' hostid/hostname) are shown to root admins only:
    CloudStack never shows hosts to users.
    """
    domain_path = record.domain.path if record.domain else None
    owner = may_act_on(caller, record.template.account_id, domain_path)
    return template_response(record, show_private=owner, show_hosts=caller.is_admin)


def registration_response(registration: Registration) -> list[dict[str, Any]]:
    """Map a registered template for its owner, one object per zone, with its mirrors' checks."""
    items = [template_response(record) for record in registration.records]
    if not registration.mirrors:
        return items
    # kvmcloud extension: a Metalink's registration says how each mirror checked out. The
    # agent masks the mirrors' credentials; masked again here for agents that did not.
    mirrors = [
        MIRROR.render(
            {
                "url": redact_url(m.url),
                "ok": m.ok,
                "errortext": m.error.message if m.error else None,
            }
        )
        for m in registration.mirrors
    ]
    return [REGISTERED_TEMPLATE.render({**item, "mirrors": mirrors}) for item in items]


def redacted_details(details: Sequence[ShownDetail]) -> dict[str, Any]:
    """Map shown details; header values are secrets (tokens) and never shown."""
    return {
        d.name: ("******" if is_header_detail(d.name) else d.value) for d in details if d.display
    }


TEMPLATE_PERMISSIONS = ObjectSchema(
    "TemplatePermissionsResponse",
    (
        out("id", FieldType.STRING, "The Template ID"),
        out(
            "ispublic",
            FieldType.BOOLEAN,
            "True if this Template is a public Template, false otherwise",
        ),
        out("domainid", FieldType.STRING, "The ID of the domain to which the Template belongs"),
        out("account", FieldType.LIST, "The list of Accounts the Template is available for"),
        out("projectids", FieldType.LIST, "The list of projects the Template is available for"),
    ),
)


def permissions_response(permissions: Permissions, caller: Caller) -> dict[str, Any]:
    """Map a template's permissions to CloudStack's templatepermission object.

    As CloudStack's: the owner's domain only for admins; ``account`` lists the accounts it
    is shared with, and its owner while it is private.
    """
    domain = permissions.domain
    show_domain = caller.is_admin or caller.account_type == AccountType.DOMAIN_ADMIN
    return TEMPLATE_PERMISSIONS.render(
        {
            "id": permissions.template.uuid,
            "ispublic": permissions.template.public,
            "domainid": domain.uuid if domain is not None and show_domain else None,
            "account": list(permissions.account_names),
            "projectids": [],
        }
    )


OS_TYPE = ObjectSchema(
    "GuestOSResponse",
    (
        out("id", FieldType.STRING, "the ID of the OS type"),
        out("description", FieldType.STRING, "the name/description of the OS type"),
        out("name", FieldType.STRING, "the name of the OS type"),
        out("oscategoryid", FieldType.STRING, "the ID of the OS category"),
        out("oscategoryname", FieldType.STRING, "the name of the OS category"),
        out("isuserdefined", FieldType.STRING, "is the guest OS user defined"),
        out("fordisplay", FieldType.BOOLEAN, "is the guest OS visible for the users"),
    ),
    entity=Entity.OS_TYPE,
)


def os_type_response(record: OsTypeRecord) -> dict[str, Any]:
    """Map a guest OS type to CloudStack's ostype object."""
    return OS_TYPE.render(
        {
            "id": record.guest_os.uuid,
            "description": record.guest_os.display_name,
            "name": record.guest_os.display_name,
            "oscategoryid": record.category.uuid,
            "oscategoryname": record.category.name,
            # A string, as CloudStack's (GuestOSResponse.isUserDefined is a String).
            "isuserdefined": str(record.guest_os.is_user_defined).lower(),
            "fordisplay": True,
        }
    )


OS_CATEGORY = ObjectSchema(
    "GuestOSCategoryResponse",
    (
        out("id", FieldType.STRING, "the ID of the OS category"),
        out("name", FieldType.STRING, "the name of the OS category"),
    ),
    entity=Entity.OS_CATEGORY,
)


def os_category_response(category: GuestOsCategory) -> dict[str, Any]:
    """Map a guest OS category to CloudStack's oscategory object."""
    return OS_CATEGORY.render({"id": category.uuid, "name": category.name})


def _download_details(ref: ShownCopy, *, show_hosts: bool) -> dict[str, Any]:
    failures = failed_attempts(ref.download_failures)
    sources = recorded_sources(ref.download_sources)
    by_kind = bytes_by_kind(sources) if sources else None
    state = ref.download_state
    attempted = ref.download_started is not None
    # A failed attempt's average says little and a new attempt starts from 0: no rate then.
    measured = state in (DownloadState.DOWNLOAD_IN_PROGRESS, DownloadState.DOWNLOADED)
    speed = throughput(
        done=ref.downloaded_bytes,
        total=ref.total_bytes,
        started=ref.download_started if measured else None,
        measured=ref.last_updated,
        downloading=state == DownloadState.DOWNLOAD_IN_PROGRESS,
    )
    return DOWNLOAD_DETAILS.render(
        {
            "datastore": ref.pool_name,
            "datastoreid": ref.pool_uuid,
            "downloadPercent": ref.download_pct,
            "downloadState": state,
            "jobid": ref.job_id,
            "installpath": ref.install_path,
            "errortext": ref.error_str if show_hosts else shown_error(ref.error_str, failures),
            "hostid": ref.host_uuid if show_hosts else None,
            "hostname": ref.host_name if show_hosts else None,
            "downloadstarted": format_date(ref.download_started),
            "downloadedbytes": ref.downloaded_bytes if attempted else None,
            "totalbytes": ref.total_bytes,
            "downloadrate": speed.rate,
            "eta": speed.eta_s,
            "attempts": ref.download_attempts,
            "failures": [
                FAILED_ATTEMPT.render(
                    {
                        "hostid": f.hostid if show_hosts else None,
                        "hostname": (f.hostname or None) if show_hosts else None,
                        "reason": f.reason,
                    }
                )
                for f in failures
            ],
            "originbytes": by_kind["origin"] if by_kind else None,
            "peerbytes": by_kind["peer"] if by_kind else None,
            "sources": [
                BYTE_SOURCE.render(
                    {
                        "kind": s.kind,
                        "hostid": s.hostid if show_hosts else None,
                        "hostname": s.hostname if show_hosts else None,
                        "bytes": s.bytes,
                        "outcome": s.outcome,
                        "message": s.message if show_hosts else None,
                    }
                )
                for s in sources
            ]
            or None,
        }
    )


def shown_error(error: str | None, failures: Sequence[FailedAttempt]) -> str | None:
    """Return a failed copy's error as non-admins see it: without the hosts it names.

    The recorded error says which hosts were tried; the last attempt's reason is what
    the host answered (the source's status, a checksum mismatch…), without that context.
    """
    if error is None or not failures:
        return error
    return failures[-1].reason


EXTRACT = ObjectSchema(
    "ExtractResponse",
    (
        out("id", FieldType.STRING, "The ID of extracted object"),
        out("name", FieldType.STRING, "The name of the extracted object"),
        out("accountid", FieldType.STRING, "The Account ID to which the extracted object belongs"),
        out("state", FieldType.STRING, "The state of the extracted object"),
        out("zoneid", FieldType.STRING, "Zone ID the object was extracted from"),
        out("zonename", FieldType.STRING, "Zone name the object was extracted from"),
        out("extractMode", FieldType.STRING, "The mode of extraction - upload or download"),
        out(
            "url",
            FieldType.STRING,
            "If mode = upload then URL of the uploaded entity. if mode = download the URL from "
            "which the entity can be downloaded",
        ),
        out("created", FieldType.DATE, "The time and date the object was created"),
        out("storagetype", FieldType.STRING, "Type of the storage"),
        # CloudStack leaves resultstring out of its API doc; kvmcloud's says something.
        out(
            "resultstring",
            FieldType.STRING,
            "kvmcloud: where the URL's bytes come from (a verified pool copy, or the "
            "registered URL)",
        ),
    ),
)


def extract_response(extract: ExtractUrl) -> dict[str, Any]:
    """Map an extract URL to CloudStack's ExtractResponse (createImageExtractResponse).

    ``resultstring`` says where the bytes come from: a signed URL on this management
    server relaying a verified pool copy (with its expiry), or the registered URL.
    """
    if extract.pool_name is not None:
        result = (
            f"Served by the management server from the verified copy on pool "
            f"{extract.pool_name}; the URL expires at {format_date(extract.expires)}"
        )
    else:
        result = (
            "No verified copy on a pool an Up host reaches: this is the registered URL "
            f"(credentials masked; {extract.checked or 'not checked'})"
        )
    zone = extract.zone
    return EXTRACT.render(
        {
            "id": extract.template.uuid,
            "name": extract.template.name,
            "accountid": extract.account.uuid if extract.account else None,
            "state": URL_CREATED,
            "zoneid": zone.uuid if zone else None,
            "zonename": zone.name if zone else None,
            "extractMode": HTTP_DOWNLOAD,
            "url": extract.url,
            "created": format_date(extract.created),
            "storagetype": "Primary" if extract.pool_name is not None else None,
            "resultstring": result,
        }
    )
